;; A WASI command (wasm32-wasip1 style, `_start`) that uses WasmGC: it
;; builds a linked list of 10 000 GC structs, sums it, and prints the sum
;; with fd_write. Hand-written; needs the GC and function-references
;; proposals.
(module
  (type $node (struct (field $value i32) (field $next (ref null $node))))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $host (mut externref) (ref.null extern))
  (func (export "_start")
    (local $list (ref null $node))
    (local $i i32)
    (local $sum i32)
    (local $at i32)
    (block $done
      (loop $link
        (br_if $done (i32.ge_u (local.get $i) (i32.const 10000)))
        (local.set $list (struct.new $node (local.get $i) (local.get $list)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $link)))
    (block $done
      (loop $walk
        (br_if $done (ref.is_null (local.get $list)))
        (local.set $sum (i32.add (local.get $sum)
          (struct.get $node $value (ref.as_non_null (local.get $list)))))
        (local.set $list (struct.get $node $next (ref.as_non_null (local.get $list))))
        (br $walk)))
    ;; "sum <digits>\n" at 100.., written backwards from 131.
    (i32.store8 (i32.const 131) (i32.const 10))
    (local.set $at (i32.const 131))
    (loop $digit
      (local.set $at (i32.sub (local.get $at) (i32.const 1)))
      (i32.store8 (local.get $at)
        (i32.add (i32.const 48) (i32.rem_u (local.get $sum) (i32.const 10))))
      (local.set $sum (i32.div_u (local.get $sum) (i32.const 10)))
      (br_if $digit (i32.ne (local.get $sum) (i32.const 0))))
    (local.set $at (i32.sub (local.get $at) (i32.const 4)))
    (i32.store (local.get $at) (i32.const 0x206d7573)) ;; "sum "
    ;; One iovec at 0: (ptr, len).
    (i32.store (i32.const 0) (local.get $at))
    (i32.store (i32.const 4) (i32.sub (i32.const 132) (local.get $at)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
