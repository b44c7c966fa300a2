// A result whose getter throws while it is serialised: not JSON, so a
// contract violation; the runner must not trap.
// input: {}
// expect: contract_violation
function run(input) {
  return {
    ok: 1,
    get broken() {
      throw new Error("no reading this");
    },
  };
}
