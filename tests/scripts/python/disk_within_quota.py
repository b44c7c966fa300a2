# Writes 512 KiB into a granted directory with 1 MiB of max_disk: allowed.
# input: {"dir": "GRANTED_DIR"}
# flags: --allow-write GRANTED_DIR --max-disk 1MiB
# expect: ok
# output: {"wrote": 524288}
def run(input):
    chunk = b"x" * (64 * 1024)
    with open(input["dir"] + "/within-quota.bin", "wb") as f:
        for _ in range(8):
            f.write(chunk)
    return {"wrote": len(chunk) * 8}
