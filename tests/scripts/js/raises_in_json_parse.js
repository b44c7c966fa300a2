// A SyntaxError thrown by JSON.parse inside run is an exception like any other.
// input: {"text": "{not json"}
// expect: permanent
// message: SyntaxError: Expected property name
function run(input) {
  return JSON.parse(input.text);
}
