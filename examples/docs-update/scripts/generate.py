# Writes a module's Markdown documentation from its API and its existing
# docs. Like any generator it can fall short: it documents what the
# docstrings say, and only adds entries for undocumented names when the
# validator's complaints ask for them.
import re


def entry(title, doc):
    return f"### `{title}`\n\n{doc.strip() or '_No docstring yet; documented from its signature._'}\n"


def run(input):
    api = input["api"]
    asked = set(re.findall(r"public name `([^`]+)`", " ".join(input.get("complaints") or [])))
    lines = [f"# {api['dotted']}", "", "## Overview", ""]
    overview = api["doc"].strip()
    existing = (input.get("existing") or "").strip()
    if existing:
        m = re.search(r"## Overview\s*\n(.*?)(?:\n## |\Z)", existing, re.S)
        if m and m.group(1).strip() and m.group(1).strip() not in overview:
            overview = (overview + "\n\n" + m.group(1).strip()).strip()
    lines += [overview or "_No module docstring yet._", "", "## API", ""]
    for c in api["classes"]:
        if c["doc"] or c["name"] in asked:
            lines.append(entry(c["name"], c["doc"]))
            for m in c["methods"]:
                lines.append(entry(f"{c['name']}.{m['signature']}", m["doc"]))
    for f in api["functions"]:
        if f["doc"] or f["name"] in asked:
            lines.append(entry(f["signature"], f["doc"]))
    first = next((f for f in api["functions"] if f["doc"]), None)
    if first:
        lines += ["## Example", "", "```python", f"from {api['dotted']} import {first['name']}", "```", ""]
    return {"markdown": "\n".join(lines).rstrip() + "\n"}
