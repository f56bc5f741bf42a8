;; A wprof-ABI plugin that uses WasmGC: its one function, `sum_bytes`,
;; copies its input into a GC array, threads the bytes onto a linked list of
;; GC structs (one allocation per byte), sums them through the list and
;; returns the sum as decimal text. It also holds an externref global, as
;; Extism's kernel does. Hand-written; needs the GC and function-references
;; proposals.
(module
  (type $bytes (array (mut i32)))
  (type $node (struct (field $value i32) (field $next (ref null $node))))
  (memory (export "memory") 2)
  (global $top (mut i32) (i32.const 1024))
  (global $host (mut externref) (ref.null extern))

  ;; A bump allocator: the host's input and the output live above 1 KiB.
  (func (export "wprof_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $top))
    (global.set $top (i32.add (global.get $top) (local.get $len)))
    (if (i32.gt_u (global.get $top) (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow (i32.add (i32.shr_u (local.get $len) (i32.const 16)) (i32.const 1))))))
    (local.get $p))
  (func (export "wprof_free") (param i32 i32)
    (global.set $top (i32.const 1024)))

  (func (export "sum_bytes") (param $ptr i32) (param $len i32) (result i64)
    (local $arr (ref $bytes))
    (local $list (ref null $node))
    (local $i i32)
    (local $sum i32)
    (local $out i32)
    (local $n i32)
    ;; The input, copied into a GC array.
    (local.set $arr (array.new_default $bytes (local.get $len)))
    (block $done
      (loop $copy
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (array.set $bytes (local.get $arr) (local.get $i)
          (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $copy)))
    ;; One struct per byte, on a list.
    (local.set $i (i32.const 0))
    (block $done
      (loop $link
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $list
          (struct.new $node (array.get $bytes (local.get $arr) (local.get $i)) (local.get $list)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $link)))
    ;; The sum, through the list.
    (block $done
      (loop $walk
        (br_if $done (ref.is_null (local.get $list)))
        (local.set $sum (i32.add (local.get $sum)
          (struct.get $node $value (ref.as_non_null (local.get $list)))))
        (local.set $list (struct.get $node $next (ref.as_non_null (local.get $list))))
        (br $walk)))
    ;; Decimal digits, written backwards from the end of a 16-byte buffer.
    (local.set $out (call $alloc16))
    (local.set $i (i32.const 16))
    (loop $digit
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (i32.add (local.get $out) (local.get $i))
        (i32.add (i32.const 48) (i32.rem_u (local.get $sum) (i32.const 10))))
      (local.set $sum (i32.div_u (local.get $sum) (i32.const 10)))
      (br_if $digit (i32.ne (local.get $sum) (i32.const 0))))
    (local.set $n (i32.sub (i32.const 16) (local.get $i)))
    ;; (ptr << 32) | len
    (i64.or
      (i64.shl (i64.extend_i32_u (i32.add (local.get $out) (local.get $i))) (i64.const 32))
      (i64.extend_i32_u (local.get $n))))

  (func $alloc16 (result i32)
    (local $p i32)
    (local.set $p (global.get $top))
    (global.set $top (i32.add (global.get $top) (i32.const 16)))
    (local.get $p)))
