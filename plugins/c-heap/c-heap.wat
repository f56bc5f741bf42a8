;; A plugin as a C compiler emits one: its own malloc and free (a first-fit
;; free list on a bump pointer, growing linear memory when the heap runs
;; out), named in the name section and not exported, behind the wprof ABI.
;; Its allocations are known exactly, for wprof's guest heap pass:
;;
;;   work: the input's buffer (wprof_alloc), three blocks of 16, 32 and 64
;;         bytes made by build_list and freed, and the 11-byte output
;;         `{"ok":true}` (wprof_free frees it): 5 blocks, len + 123 bytes
;;         a call, all freed;
;;   leak: the same, but build_list keeps a 1000-byte block (leak_node):
;;         one block a call stays live, and the heap grows with every call.
;;
;; A block is preceded by an 8-byte header: its size, then the next free
;; block while it is free.
(module
  (memory (export "memory") 1)
  (global $top (mut i32) (i32.const 1024))
  (global $free_list (mut i32) (i32.const 0))
  (data (i32.const 64) "{\"ok\":true}")

  (func $malloc (param $size i32) (result i32)
    (local $prev i32) (local $b i32) (local $end i32) (local $need i32)
    ;; First fit on the free list.
    (local.set $b (global.get $free_list))
    (block $none
      (loop $scan
        (br_if $none (i32.eqz (local.get $b)))
        (if (i32.ge_u (i32.load (local.get $b)) (local.get $size))
          (then
            (if (local.get $prev)
              (then (i32.store offset=4 (local.get $prev) (i32.load offset=4 (local.get $b))))
              (else (global.set $free_list (i32.load offset=4 (local.get $b)))))
            (return (i32.add (local.get $b) (i32.const 8)))))
        (local.set $prev (local.get $b))
        (local.set $b (i32.load offset=4 (local.get $b)))
        (br $scan)))
    ;; Else from the top, growing memory when it runs out.
    (local.set $b (global.get $top))
    (local.set $end (i32.add (local.get $b) (i32.add (i32.const 8) (i32.and (i32.add (local.get $size) (i32.const 7)) (i32.const -8)))))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (local.set $need (i32.sub (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16)) (memory.size)))
        (if (i32.lt_s (memory.grow (local.get $need)) (i32.const 0))
          (then (return (i32.const 0))))))
    (global.set $top (local.get $end))
    (i32.store (local.get $b) (i32.and (i32.add (local.get $size) (i32.const 7)) (i32.const -8)))
    (i32.add (local.get $b) (i32.const 8)))

  (func $free (param $ptr i32)
    (local $b i32)
    (if (i32.eqz (local.get $ptr)) (then (return)))
    (local.set $b (i32.sub (local.get $ptr) (i32.const 8)))
    (i32.store offset=4 (local.get $b) (global.get $free_list))
    (global.set $free_list (local.get $b)))

  (func (export "wprof_alloc") (param $len i32) (result i32)
    (call $malloc (local.get $len)))
  (func (export "wprof_free") (param $ptr i32) (param $len i32)
    (call $free (local.get $ptr)))

  ;; Three blocks, freed; with $keep, the 32-byte one is a 1000-byte one
  ;; left live.
  (func $build_list (param $keep i32)
    (local $a i32) (local $b i32) (local $c i32)
    (local.set $a (call $malloc (i32.const 16)))
    (if (local.get $keep)
      (then (local.set $b (call $leak_node)))
      (else (local.set $b (call $malloc (i32.const 32)))))
    (local.set $c (call $malloc (i32.const 64)))
    (call $free (local.get $c))
    (if (i32.eqz (local.get $keep)) (then (call $free (local.get $b))))
    (call $free (local.get $a)))

  (func $leak_node (result i32)
    (call $malloc (i32.const 1000)))

  ;; The output, in a block of its own: the host frees it with wprof_free.
  (func $write_output (result i64)
    (local $out i32)
    (local.set $out (call $malloc (i32.const 11)))
    (memory.copy (local.get $out) (i32.const 64) (i32.const 11))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32)) (i64.const 11)))

  (func $run (param $ptr i32) (param $len i32) (param $keep i32) (result i64)
    (call $build_list (local.get $keep))
    (call $free (local.get $ptr))
    (call $write_output))

  (func $work (export "work") (param $ptr i32) (param $len i32) (result i64)
    (call $run (local.get $ptr) (local.get $len) (i32.const 0)))
  (func $leak (export "leak") (param $ptr i32) (param $len i32) (result i64)
    (call $run (local.get $ptr) (local.get $len) (i32.const 1))))
