# Reads a file under a directory the host granted. The test makes a directory
# holding hello.txt ("hello\n") and puts its path for GRANTED_DIR.
# flags: --allow-read GRANTED_DIR
# input: {"path": "GRANTED_DIR/hello.txt"}
# expect: ok
# output: {"text": "hello\n"}
def run(input):
    with open(input["path"], encoding="utf-8") as f:
        return {"text": f.read()}
