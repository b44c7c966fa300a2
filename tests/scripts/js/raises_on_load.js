// An exception while the script loads, before run(input) is called.
// input: {}
// expect: permanent
// message: the script failed while loading, before run(input)
const config = JSON.parse("{not json");

function run(input) {
  return config;
}
