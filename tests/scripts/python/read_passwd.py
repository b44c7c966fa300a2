# No file is readable unless granted: open() raises, the run is permanent.
# input: {}
# expect: permanent
# message: FileNotFoundError: [Errno 44] No such file or directory: '/etc/passwd'
def run(input):
    with open("/etc/passwd") as f:
        return {"passwd": f.read()}
