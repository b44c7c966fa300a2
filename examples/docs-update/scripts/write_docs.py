# Writes the validated docs into the output directory, the only place this
# step may write.


def run(input):
    written = []
    for doc in input["docs"]:
        name = doc["module"][: -len(".py")].split("/")[-1]
        path = input["out"].rstrip("/") + "/" + name + ".md"
        with open(path, "w", encoding="utf-8") as f:
            f.write(doc["markdown"])
        written.append(doc["module"])
    weft.info(f"wrote {len(written)} file(s) to {input['out']}")
    return {"written": written}
