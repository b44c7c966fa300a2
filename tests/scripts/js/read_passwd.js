// There is no file API at all: the attempt throws, the run is permanent.
// input: {}
// expect: permanent
// message: ReferenceError: require is not defined
function run(input) {
  return { passwd: require("fs").readFileSync("/etc/passwd", "utf8") };
}
