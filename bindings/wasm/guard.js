// Refuses, before the WebAssembly module is entered, a call on a Keyring or Claims that was
// freed (or made with `new`, which gives an empty shell), and makes a second `free()` (or
// `[Symbol.dispose]()`) do nothing. wasm-bindgen's generated methods
// hand `this.__wbg_ptr` (0 then) to the module, which throws "null pointer passed to rust"
// from inside it: an exception that leaves the module's stack frames allocated
// (wasm-bindgen issue 1959), so that a few thousand such calls would break the module for
// good ("memory access out of bounds" on every later call). Every entry point calls
// guardClasses on its module's classes; tests/api.test.js makes thousands of such calls and
// then verifies a token.

function guard(cls, how) {
  const proto = cls.prototype;
  const free = proto.free;
  const freeOnce = function () {
    if (this && this.__wbg_ptr) free.call(this);
  };
  for (const name of Reflect.ownKeys(proto)) {
    if (name === "constructor" || (typeof name === "string" && name.startsWith("__"))) continue;
    const d = Object.getOwnPropertyDescriptor(proto, name);
    if (d.value === free) {
      // `free` and its alias `Symbol.dispose` (for `using`).
      d.value = freeOnce;
      Object.defineProperty(proto, name, d);
      continue;
    }
    const check = (self) => {
      if (!self || !self.__wbg_ptr) {
        throw new TypeError(`this ${cls.name} was freed, or was not made by ${how}`);
      }
    };
    if (typeof d.value === "function") {
      const method = d.value;
      d.value = function (...args) {
        check(this);
        return method.apply(this, args);
      };
    } else if (d.get) {
      const getter = d.get;
      d.get = function () {
        check(this);
        return getter.call(this);
      };
    }
    Object.defineProperty(proto, name, d);
  }
}

/** Guards the Keyring and Claims classes of one of the package's modules (once each). */
export function guardClasses(Keyring, Claims) {
  guard(Keyring, "Keyring.fromPem(text)");
  guard(Claims, "keyring.verify()");
}
