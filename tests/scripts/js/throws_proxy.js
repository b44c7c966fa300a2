// Throws a Proxy whose every trap throws: an ordinary failure of the script.
// input: {}
// expect: permanent
// message: cannot be read
function run(input) {
  const boom = () => {
    throw new Error("trap");
  };
  throw new Proxy(new Error("x"), { get: boom, getPrototypeOf: boom, has: boom, getOwnPropertyDescriptor: boom });
}
