# Analyses one module's current API with `ast`: functions, classes, methods,
# their signatures and docstrings. Reads the file from the repository, which
# is the only thing this step is granted. A module that does not parse is a
# permanent failure: it goes to manual review.
import ast


def signature(fn):
    args = [a.arg for a in fn.args.posonlyargs + fn.args.args]
    if fn.args.vararg:
        args.append("*" + fn.args.vararg.arg)
    args += [a.arg for a in fn.args.kwonlyargs]
    if fn.args.kwarg:
        args.append("**" + fn.args.kwarg.arg)
    if args and args[0] in ("self", "cls"):
        args = args[1:]
    return f"{fn.name}({', '.join(args)})"


def public(name):
    return not name.startswith("_")


def run(input):
    path = input["repo"].rstrip("/") + "/" + input["module"]
    try:
        with open(path, encoding="utf-8") as f:
            source = f.read()
    except OSError as e:
        raise weft.PermanentError(f"cannot read {input['module']}: {e}")
    try:
        tree = ast.parse(source, filename=input["module"])
    except SyntaxError as e:
        raise weft.PermanentError(
            f"{input['module']} cannot be parsed (line {e.lineno}: {e.msg}); it needs manual review"
        )
    functions, classes = [], []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and public(node.name):
            functions.append({"name": node.name, "signature": signature(node), "doc": ast.get_docstring(node) or ""})
        elif isinstance(node, ast.ClassDef) and public(node.name):
            methods = [
                {"name": m.name, "signature": signature(m), "doc": ast.get_docstring(m) or ""}
                for m in node.body
                if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)) and public(m.name)
            ]
            classes.append({"name": node.name, "doc": ast.get_docstring(node) or "", "methods": methods})
    names = [f["name"] for f in functions] + [c["name"] for c in classes]
    dotted = input["module"][: -len(".py")].replace("/", ".")
    return {
        "module": input["module"],
        "dotted": dotted,
        "doc": ast.get_docstring(tree) or "",
        "functions": functions,
        "classes": classes,
        "names": names,
    }
