;; Record counter for delimited text in a byte encoding, with the rules of RecordCounter in count.ts.
;; Compile with `node scripts/build-count-kernel.mjs`, which writes count-kernel-wasm.ts beside this
;; file. test/unit/count-kernel.test.ts checks that the two match.
;;
;; The caller passes the exact parser state as bit flags and gets the new flags back:
;;   1 inQuotes, 2 quotePending, 4 atFieldStart, 8 recordHasUnits, 16 afterCarriageReturn
;; with the meanings of the fields of the same names in RecordCounter. The globals `records` and
;; `lineBreaks` are increased by the records ended and the line breaks outside quotes seen; the
;; caller reads them and sets them back to 0.
;;
;; `count` reads 64 bytes at a time with SIMD. For each block it builds 64-bit masks of quotes,
;; line breaks (CR or LF), CRs and delimiters, and tracks quoted fields with the simple model in
;; which every quote toggles the state (prefix XOR of the quote mask). Blocks without a quote skip
;; the delimiter mask and the prefix XOR, and blocks without a CR skip the CR mask. The simple model equals the
;; exact rules as long as every quote that it takes as opening a field directly follows a
;; delimiter, CR, LF or quote, or starts the input with the exact state at a field start. A
;; quote after a quote is then the second quote of `""`, which the simple model reads as a close
;; and a reopen. Any other opening quote is a literal quote in the middle of a field, so a block
;; that has one is recounted byte by byte by `scan`, the exact state machine, and the next block
;; starts from the exact state. `scan` also counts the last bytes that do not fill a block.

(module
  (import "env" "memory" (memory 1))

  (global $records (export "records") (mut i32) (i32.const 0))
  (global $lineBreaks (export "lineBreaks") (mut i32) (i32.const 0))

  ;; The exact state machine over bytes [$p, $end): one step of RecordCounter.push per byte.
  (func $scan (param $p i32) (param $end i32) (param $delimiter i32) (param $state i32) (result i32)
    (local $c i32)
    (local $inQuotes i32)
    (local $quotePending i32)
    (local $atFieldStart i32)
    (local $recordHasUnits i32)
    (local $afterCarriageReturn i32)
    (local.set $inQuotes (i32.and (local.get $state) (i32.const 1)))
    (local.set $quotePending (i32.and (i32.shr_u (local.get $state) (i32.const 1)) (i32.const 1)))
    (local.set $atFieldStart (i32.and (i32.shr_u (local.get $state) (i32.const 2)) (i32.const 1)))
    (local.set $recordHasUnits (i32.and (i32.shr_u (local.get $state) (i32.const 3)) (i32.const 1)))
    (local.set $afterCarriageReturn (i32.and (i32.shr_u (local.get $state) (i32.const 4)) (i32.const 1)))

    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))

        ;; An LF right after a CR that ended a record belongs to that CR.
        (if (local.get $afterCarriageReturn)
          (then
            (local.set $afterCarriageReturn (i32.const 0))
            (br_if $next (i32.eq (local.get $c) (i32.const 0x0a)))))

        ;; After a quote inside a quoted field: a second quote is a literal quote, anything else
        ;; means that quote closed the field.
        (if (local.get $quotePending)
          (then
            (local.set $quotePending (i32.const 0))
            (br_if $next (i32.eq (local.get $c) (i32.const 0x22)))
            (local.set $inQuotes (i32.const 0))))

        (if (local.get $inQuotes)
          (then
            (local.set $quotePending (i32.eq (local.get $c) (i32.const 0x22)))
            (br $next)))

        ;; A quote opens a quoted field only as the field's first byte; elsewhere it is literal.
        (if (i32.eq (local.get $c) (i32.const 0x22))
          (then
            (local.set $recordHasUnits (i32.const 1))
            (local.set $inQuotes (local.get $atFieldStart))
            (local.set $atFieldStart (i32.const 0))
            (br $next)))

        (if (i32.or (i32.eq (local.get $c) (i32.const 0x0a)) (i32.eq (local.get $c) (i32.const 0x0d)))
          (then
            (global.set $records (i32.add (global.get $records) (local.get $recordHasUnits)))
            (global.set $lineBreaks (i32.add (global.get $lineBreaks) (i32.const 1)))
            (local.set $recordHasUnits (i32.const 0))
            (local.set $atFieldStart (i32.const 1))
            (local.set $afterCarriageReturn (i32.eq (local.get $c) (i32.const 0x0d)))
            (br $next)))

        (local.set $recordHasUnits (i32.const 1))
        (local.set $atFieldStart (i32.eq (local.get $c) (local.get $delimiter)))
        (br $next)))

    (i32.or
      (i32.or
        (i32.or (local.get $inQuotes) (i32.shl (local.get $quotePending) (i32.const 1)))
        (i32.or (i32.shl (local.get $atFieldStart) (i32.const 2)) (i32.shl (local.get $recordHasUnits) (i32.const 3))))
      (i32.shl (local.get $afterCarriageReturn) (i32.const 4))))

  ;; Converts the exact state flags to the five carry bits of the block loop, each 0 or 1:
  ;; inside a quoted field; the last byte was a closing quote; a quote may open a field next;
  ;; the current record is still empty; the last byte was a CR that ended a record.
  (func $carries (param $state i32) (result i64 i64 i64 i64 i64)
    (local $inQuotes i64)
    (local $quotePending i64)
    (local.set $inQuotes (i64.extend_i32_u (i32.and (local.get $state) (i32.const 1))))
    (local.set $quotePending (i64.extend_i32_u (i32.and (i32.shr_u (local.get $state) (i32.const 1)) (i32.const 1))))
    (i64.and (local.get $inQuotes) (i64.xor (local.get $quotePending) (i64.const 1)))
    (local.get $quotePending)
    (i64.or
      (local.get $quotePending)
      (i64.and
        (i64.xor (local.get $inQuotes) (i64.const 1))
        (i64.extend_i32_u (i32.and (i32.shr_u (local.get $state) (i32.const 2)) (i32.const 1)))))
    (i64.extend_i32_u (i32.xor (i32.and (i32.shr_u (local.get $state) (i32.const 3)) (i32.const 1)) (i32.const 1)))
    (i64.extend_i32_u (i32.and (i32.shr_u (local.get $state) (i32.const 4)) (i32.const 1))))

  ;; Converts the carry bits back to the exact state flags (the inverse of $carries).
  (func $state (param $inside i64) (param $closed i64) (param $allow i64) (param $empty i64) (param $afterCr i64) (result i32)
    (if (result i32) (i32.wrap_i64 (local.get $inside))
      (then (i32.const 9)) ;; inQuotes, recordHasUnits
      (else
        (if (result i32) (i32.wrap_i64 (local.get $closed))
          (then (i32.const 11)) ;; inQuotes, quotePending, recordHasUnits
          (else
            (i32.or
              (i32.or
                (i32.shl (i32.wrap_i64 (local.get $allow)) (i32.const 2))
                (i32.shl (i32.xor (i32.wrap_i64 (local.get $empty)) (i32.const 1)) (i32.const 3)))
              (i32.shl (i32.wrap_i64 (local.get $afterCr)) (i32.const 4))))))))

  (func (export "count") (param $p i32) (param $length i32) (param $delimiter i32) (param $state i32) (result i32)
    (local $end i32)
    (local $splatQuote v128)
    (local $splatLf v128)
    (local $splatCr v128)
    (local $splatDelimiter v128)
    (local $v0 v128)
    (local $v1 v128)
    (local $v2 v128)
    (local $v3 v128)
    ;; Bytes of the four vectors that are CR (0xff) or not (0).
    (local $cr0 v128)
    (local $cr1 v128)
    (local $cr2 v128)
    (local $cr3 v128)
    ;; 64-bit masks of the block, bit i for byte i.
    (local $quotes i64)
    (local $breaks i64)
    (local $crs i64)
    (local $delimiters i64)
    (local $inside i64)
    (local $outsideBreaks i64)
    (local $recordEnds i64)
    (local $boundaries i64)
    ;; Carry bits from the previous block, see $carries.
    (local $cInside i64)
    (local $cClosed i64)
    (local $cAllow i64)
    (local $cEmpty i64)
    (local $cAfterCr i64)
    (local $records i64)
    (local $lineBreaks i64)

    (local.set $end (i32.add (local.get $p) (local.get $length)))
    (local.set $splatQuote (i8x16.splat (i32.const 0x22)))
    (local.set $splatLf (i8x16.splat (i32.const 0x0a)))
    (local.set $splatCr (i8x16.splat (i32.const 0x0d)))
    (local.set $splatDelimiter (i8x16.splat (local.get $delimiter)))
    (call $carries (local.get $state))
    (local.set $cAfterCr)
    (local.set $cEmpty)
    (local.set $cAllow)
    (local.set $cClosed)
    (local.set $cInside)

    (block $done
      (loop $block
        (br_if $done (i32.lt_u (i32.sub (local.get $end) (local.get $p)) (i32.const 64)))
        (local.set $v0 (v128.load offset=0 align=1 (local.get $p)))
        (local.set $v1 (v128.load offset=16 align=1 (local.get $p)))
        (local.set $v2 (v128.load offset=32 align=1 (local.get $p)))
        (local.set $v3 (v128.load offset=48 align=1 (local.get $p)))

        (local.set $quotes
          (i64.or
            (i64.extend_i32_u
              (i32.or
                (i8x16.bitmask (i8x16.eq (local.get $v0) (local.get $splatQuote)))
                (i32.shl (i8x16.bitmask (i8x16.eq (local.get $v1) (local.get $splatQuote))) (i32.const 16))))
            (i64.shl
              (i64.extend_i32_u
                (i32.or
                  (i8x16.bitmask (i8x16.eq (local.get $v2) (local.get $splatQuote)))
                  (i32.shl (i8x16.bitmask (i8x16.eq (local.get $v3) (local.get $splatQuote))) (i32.const 16))))
              (i64.const 32))))
        (local.set $cr0 (i8x16.eq (local.get $v0) (local.get $splatCr)))
        (local.set $cr1 (i8x16.eq (local.get $v1) (local.get $splatCr)))
        (local.set $cr2 (i8x16.eq (local.get $v2) (local.get $splatCr)))
        (local.set $cr3 (i8x16.eq (local.get $v3) (local.get $splatCr)))
        (local.set $breaks
          (i64.or
            (i64.extend_i32_u
              (i32.or
                (i8x16.bitmask (v128.or (i8x16.eq (local.get $v0) (local.get $splatLf)) (local.get $cr0)))
                (i32.shl (i8x16.bitmask (v128.or (i8x16.eq (local.get $v1) (local.get $splatLf)) (local.get $cr1))) (i32.const 16))))
            (i64.shl
              (i64.extend_i32_u
                (i32.or
                  (i8x16.bitmask (v128.or (i8x16.eq (local.get $v2) (local.get $splatLf)) (local.get $cr2)))
                  (i32.shl (i8x16.bitmask (v128.or (i8x16.eq (local.get $v3) (local.get $splatLf)) (local.get $cr3))) (i32.const 16))))
              (i64.const 32))))
        ;; Most files have no CR at all, so its mask is built only for blocks that have one.
        (local.set $crs (i64.const 0))
        (if (v128.any_true (v128.or (v128.or (local.get $cr0) (local.get $cr1)) (v128.or (local.get $cr2) (local.get $cr3))))
          (then
            (local.set $crs
              (i64.or
                (i64.extend_i32_u
                  (i32.or
                    (i8x16.bitmask (local.get $cr0))
                    (i32.shl (i8x16.bitmask (local.get $cr1)) (i32.const 16))))
                (i64.shl
                  (i64.extend_i32_u
                    (i32.or
                      (i8x16.bitmask (local.get $cr2))
                      (i32.shl (i8x16.bitmask (local.get $cr3)) (i32.const 16))))
                  (i64.const 32))))))
        (if (i64.eqz (local.get $quotes))
          (then
            ;; No quote: the whole block is inside or outside quotes, and only the last byte
            ;; matters for the next block's first quote.
            (local.set $inside (i64.sub (i64.const 0) (local.get $cInside)))
            (local.set $boundaries
              (i64.or
                (local.get $breaks)
                (i64.shl
                  (i64.extend_i32_u (i32.eq (i32.load8_u offset=63 (local.get $p)) (local.get $delimiter)))
                  (i64.const 63)))))
          (else
            (local.set $delimiters
              (i64.or
                (i64.extend_i32_u
                  (i32.or
                    (i8x16.bitmask (i8x16.eq (local.get $v0) (local.get $splatDelimiter)))
                    (i32.shl (i8x16.bitmask (i8x16.eq (local.get $v1) (local.get $splatDelimiter))) (i32.const 16))))
                (i64.shl
                  (i64.extend_i32_u
                    (i32.or
                      (i8x16.bitmask (i8x16.eq (local.get $v2) (local.get $splatDelimiter)))
                      (i32.shl (i8x16.bitmask (i8x16.eq (local.get $v3) (local.get $splatDelimiter))) (i32.const 16))))
                  (i64.const 32))))

            ;; Bit i of the prefix XOR is the parity of the quotes at or before byte i, so with the
            ;; carry it marks the bytes inside quotes; a quote's own bit says whether it opens.
            (local.set $inside (i64.xor (local.get $quotes) (i64.shl (local.get $quotes) (i64.const 1))))
            (local.set $inside (i64.xor (local.get $inside) (i64.shl (local.get $inside) (i64.const 2))))
            (local.set $inside (i64.xor (local.get $inside) (i64.shl (local.get $inside) (i64.const 4))))
            (local.set $inside (i64.xor (local.get $inside) (i64.shl (local.get $inside) (i64.const 8))))
            (local.set $inside (i64.xor (local.get $inside) (i64.shl (local.get $inside) (i64.const 16))))
            (local.set $inside (i64.xor (local.get $inside) (i64.shl (local.get $inside) (i64.const 32))))
            (local.set $inside (i64.xor (local.get $inside) (i64.sub (i64.const 0) (local.get $cInside))))

            ;; Bytes after which a quote may open a field: delimiters, line breaks and quotes.
            (local.set $boundaries
              (i64.or (local.get $delimiters) (i64.or (local.get $breaks) (local.get $quotes))))))

        (if (i64.eqz
              (i64.and
                (i64.and (local.get $quotes) (local.get $inside))
                (i64.xor
                  (i64.or (i64.shl (local.get $boundaries) (i64.const 1)) (local.get $cAllow))
                  (i64.const -1))))
          (then
            ;; A line break ends a record unless it is inside quotes or is the LF of a CRLF.
            (local.set $outsideBreaks (i64.and (local.get $breaks) (i64.xor (local.get $inside) (i64.const -1))))
            (local.set $recordEnds
              (i64.and
                (local.get $outsideBreaks)
                (i64.xor
                  (i64.and
                    (i64.xor (local.get $breaks) (local.get $crs))
                    (i64.or (i64.shl (local.get $crs) (i64.const 1)) (local.get $cAfterCr)))
                  (i64.const -1))))
            (local.set $lineBreaks (i64.add (local.get $lineBreaks) (i64.popcnt (local.get $recordEnds))))
            ;; A record is empty when the byte before its end is another outside line break.
            (local.set $records
              (i64.add
                (local.get $records)
                (i64.popcnt
                  (i64.and
                    (local.get $recordEnds)
                    (i64.xor
                      (i64.or (i64.shl (local.get $outsideBreaks) (i64.const 1)) (local.get $cEmpty))
                      (i64.const -1))))))

            (local.set $cInside (i64.shr_u (local.get $inside) (i64.const 63)))
            (local.set $cClosed (i64.shr_u (local.get $quotes) (i64.const 63)))
            (local.set $cAllow (i64.shr_u (local.get $boundaries) (i64.const 63)))
            (local.set $cEmpty (i64.shr_u (local.get $outsideBreaks) (i64.const 63)))
            (local.set $cAfterCr
              (i64.shr_u (i64.and (local.get $crs) (i64.xor (local.get $inside) (i64.const -1))) (i64.const 63))))
          (else
            ;; A quote opens after some other byte: it is literal, so count this block exactly.
            (call $scan
              (local.get $p)
              (i32.add (local.get $p) (i32.const 64))
              (local.get $delimiter)
              (call $state
                (local.get $cInside) (local.get $cClosed) (local.get $cAllow) (local.get $cEmpty) (local.get $cAfterCr)))
            (call $carries)
            (local.set $cAfterCr)
            (local.set $cEmpty)
            (local.set $cAllow)
            (local.set $cClosed)
            (local.set $cInside)))

        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (br $block)))

    (global.set $records (i32.add (global.get $records) (i32.wrap_i64 (local.get $records))))
    (global.set $lineBreaks (i32.add (global.get $lineBreaks) (i32.wrap_i64 (local.get $lineBreaks))))
    (call $scan
      (local.get $p)
      (local.get $end)
      (local.get $delimiter)
      (call $state
        (local.get $cInside) (local.get $cClosed) (local.get $cAllow) (local.get $cEmpty) (local.get $cAfterCr))))
)
