// A Proxy whose every trap throws, returned as the result: a contract
// violation, not a trap in the runner.
// input: {}
// expect: contract_violation
function run(input) {
  const boom = () => {
    throw new Error("trap");
  };
  return new Proxy({}, { get: boom, ownKeys: boom, getPrototypeOf: boom, has: boom, getOwnPropertyDescriptor: boom });
}
