# The standard-library modules scripts most often need.
# input: {"text": "Hello, World! 2024-02-29", "expr": "1 + 2 * 3"}
# expect: ok
# message: "weekday": "Thursday"
import ast
import collections
import datetime
import hashlib
import json
import math
import re
import statistics
import textwrap


def run(input):
    text = input["text"]
    day = datetime.date.fromisoformat(re.search(r"\d{4}-\d{2}-\d{2}", text).group())
    tree = ast.parse(input["expr"], mode="eval")
    return {
        "words": re.findall(r"[A-Za-z]+", text),
        "weekday": day.strftime("%A"),
        "leap": (day + datetime.timedelta(days=1)).isoformat(),
        "sqrt2": round(math.sqrt(2), 6),
        "expr": eval(compile(tree, "<expr>", "eval")),
        "wrapped": textwrap.wrap("the quick brown fox jumps over the lazy dog", 12),
        "counts": collections.Counter("mississippi").most_common(2),
        "mean": statistics.mean([1, 2, 3, 4]),
        "sha256": hashlib.sha256(b"weft").hexdigest()[:16],
        "roundtrip": json.loads(json.dumps({"a": [1, 2.5, None, True]})),
    }
