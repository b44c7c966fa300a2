// The built-ins scripts most often need (QuickJS: ES2023+, no Node or browser APIs).
// input: {"text": "Hello, World! 2024-02-29", "csv": "a,b\n1,2\n3,4"}
// expect: ok
// message: "nextDay": "2024-03-01"
function run(input) {
  const [header, ...rows] = input.csv.split("\n").map((l) => l.split(","));
  const day = new Date(input.text.match(/\d{4}-\d{2}-\d{2}/)[0] + "T00:00:00Z");
  return {
    words: input.text.match(/[A-Za-z]+/g),
    weekday: day.getUTCDay(),
    nextDay: new Date(day.getTime() + 86400000).toISOString().slice(0, 10),
    sqrt2: Math.round(Math.SQRT2 * 1e6) / 1e6,
    rows: rows.map((r) => Object.fromEntries(header.map((h, i) => [h, Number(r[i])]))),
    sorted: [3, 1, 2].toSorted(),
    grouped: Object.fromEntries(Map.groupBy([1, 2, 3, 4], (n) => (n % 2 ? "odd" : "even"))),
    base64: btoa("weft"),
    uri: encodeURIComponent("a b&c"),
  };
}
