# Finds the Python modules a commit changed, from the text of `git show`
# (as the MCP git server's git_show tool returns it: a unified diff whose
# file headers are `--- a/PATH` and `+++ b/PATH`; a deleted file's new side
# is /dev/null).
import re


def run(input):
    modules = []
    for match in re.finditer(r"^\+\+\+ b/(\S+)$", input["show"], re.MULTILINE):
        path = match.group(1)
        if path.endswith(".py") and path.split("/")[-1] != "__init__.py" and path not in modules:
            modules.append(path)
    if not modules:
        weft.info("the commit changed no Python modules")
    return {"modules": modules}
