// There is no network API: fetch, WebSocket and XMLHttpRequest are absent.
// input: {}
// expect: permanent
// message: ReferenceError: fetch is not defined
function run(input) {
  return fetch("http://127.0.0.1/");
}
