# Writes 2 MiB into a granted directory with 1 MiB of max_disk: the write past
# the quota ends the run as output_limit, and is not written.
# input: {"dir": "GRANTED_DIR"}
# flags: --allow-write GRANTED_DIR --max-disk 1MiB
# expect: output_limit
# message: max_disk
def run(input):
    chunk = b"x" * (64 * 1024)
    with open(input["dir"] + "/over-quota.bin", "wb") as f:
        for _ in range(32):
            f.write(chunk)
            f.flush()
    return {"wrote": len(chunk) * 32}
