;; The no-op plugin: the wprof ABI's calls and nothing else, so that a
;; call of it is the floor under every call on an engine (its call
;; overhead, the copies of an empty input and output, and wprof's own
;; timing harness). `record engines` times it on every engine.
(module
  (memory (export "memory") 1)
  ;; Every buffer is the same 64 KiB page: the input is never read.
  (func (export "wprof_alloc") (param $len i32) (result i32)
    i32.const 1024)
  (func (export "wprof_free") (param $ptr i32) (param $len i32))
  ;; An empty output at 1024: pointer in the high 32 bits, length 0.
  (func (export "noop") (param $ptr i32) (param $len i32) (result i64)
    i64.const 4398046511104))
