"""Compile a network for the accelerator into a folder a hardware engineer can use without Python.

:func:`compile_network` writes, into ``DIR``:

* ``accel_top.v``: the top (Verilog-2005, memories initialised inline);
* ``manifest.json``, ``program.npz`` and the ``$readmemh`` images of every
  memory (``accel.program.write_program``); in the manifest also the expected
  cycles of every test image, layer by layer, and the test vectors' layout;
* ``images.hex`` (the image stream, one row per line, images one after the
  other), ``logits_expected.hex`` and ``logits_mask.hex`` (one logits beat per
  line, and which bits of it are checked), ``cycles_expected.hex`` (one line
  per image), ``weights_stream.hex`` when the weights stream in;
* ``tb_accel.v``: a self-checking testbench: it streams the images in, checks
  every logits beat and every image's cycle count, and ends with
  ``PASS`` or ``FAIL`` (``iverilog -g2005 -o sim tb_accel.v accel_top.v && vvp sim``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from accel.config import ArrayConfig
from accel.program import compile_program, plan, weight_plan, write_program
from golden.convert import IntNetwork
from golden.simulate import simulate

from .build import build_top
from .expect import expected
from .fast import pack_rows


def _hexlines(words, width: int) -> str:
    digits = max(1, -(-width // 4))
    return "".join(f"{int(v) & ((1 << width) - 1):0{digits}x}\n" for v in words)


def compile_network(inet: IntNetwork, rows: int, cols: int, out_dir, *, pixels=None, T: int | None = None,
                    config: ArrayConfig | None = None) -> Path:
    """Compile ``inet`` for a ``rows x cols`` machine into ``out_dir`` (see the module docstring).

    ``pixels``: test images (``(N,) + input shape``; default: one all-zero image);
    ``config``: its scan width is the encoder's, its weight SRAM size and off-chip
    bandwidth decide whether the weights are resident or streamed (default: scan
    width :data:`accel.config.SCAN`, resident).
    """
    from rtl.generate import generate_verilog

    out = Path(out_dir)
    inet = dataclasses.replace(inet, bitplanes=True)
    p = plan(inet, rows, cols, T, scan=config.scan if config else None)
    wp = weight_plan(p, config.weight_sram_bits, config.offchip_bits_per_cycle) if config else weight_plan(p)
    prog = compile_program(p, weights=wp)
    x = np.zeros((1,) + tuple(inet.input.shape), np.int64) if pixels is None else np.asarray(pixels)
    res = simulate(inet, x, T=p.T)
    exp = expected(prog, res)
    top = build_top(prog)
    lo = {name: (f.offset, f.width) for name, f in top.logits_layout}
    lg_width = top.logits_layout.size
    A, P = p.acc_width, p.pixel_bits
    beats, masks = [], []
    for n in range(len(x)):
        for tile in range(exp.lanes.shape[0]):
            word = mask = 0
            for lane in range(p.rows * p.cols):
                if exp.lanes[tile, lane]:
                    word |= (int(exp.logits[n, tile, lane]) & ((1 << A) - 1)) << (lo["u"][0] + lane * A)
                    mask |= ((1 << A) - 1) << (lo["u"][0] + lane * A)
            word |= tile << lo["tile"][0]
            word |= int(tile == exp.lanes.shape[0] - 1) << lo["last"][0]
            mask |= ((1 << lo["tile"][1]) - 1) << lo["tile"][0] | 1 << lo["last"][0]
            beats.append(word)
            if n == 0:
                masks.append(mask)
    row_words = [r for xi in x for r in pack_rows(prog, xi)]
    vectors = {
        "images": len(x), "rows_per_image": len(pack_rows(prog, x[0])), "image_beat_bits": p.image.view[2] * P,
        "logits_beats_per_image": int(exp.lanes.shape[0]), "logits_bits": lg_width,
        "weights_beats_per_image": len(prog.stream_words()) if wp.streamed else 0, "weights_period": wp.period,
    }
    layer_cycles = {name: exp.layer_cycles[:, i].tolist() for i, name in enumerate(exp.names)}
    write_program(prog, out, extra_manifest={"expected_cycles": {"per_image": exp.cycles.tolist(),
                                                                 "per_layer": layer_cycles},
                                             "test_vectors": vectors})
    generate_verilog(top, out, "accel_top")
    (out / "images.hex").write_text(_hexlines(row_words, vectors["image_beat_bits"]))
    (out / "logits_expected.hex").write_text(_hexlines(beats, lg_width))
    (out / "logits_mask.hex").write_text(_hexlines(masks, lg_width))
    (out / "cycles_expected.hex").write_text(_hexlines(exp.cycles.tolist(), 32))
    (out / "tb_accel.v").write_text(_testbench(vectors, wp.streamed, p.lanes * p.weight_width,
                                               top.trace_layout.size))
    return out


def _testbench(v: dict, streamed: bool, weight_bits: int, trace_bits: int) -> str:
    n, rows, lb, bpi = v["images"], v["rows_per_image"], v["logits_bits"], v["logits_beats_per_image"]
    wbeats, period = v["weights_beats_per_image"], v["weights_period"]
    wdecl = wport = wdrive = wtake = ""
    if streamed:
        wdecl = f"""  reg w_valid = 0; wire w_ready; reg [{weight_bits - 1}:0] w_data = 0;
  reg [{weight_bits - 1}:0] wmem [0:{wbeats - 1}];
  integer wb, wait_w;
  initial $readmemh("weights_stream.hex", wmem);
"""
        wport = "    .weights__valid(w_valid), .weights__ready(w_ready), .weights__payload(w_data),\n"
        wdrive = """      w_valid = (wb < WBEATS) && (wait_w == 0);
      if (w_valid) w_data = wmem[wb];
"""
        wtake = """      if (w_valid && w_ready) begin wb = wb + 1; wait_w = PERIOD - 1; end
      else if (wait_w > 0) wait_w = wait_w - 1;
"""
    return f"""// Self-checking testbench of accel_top (generated by snnbits.cosim.compile; Verilog-2005).
// iverilog -g2005 -o sim tb_accel.v accel_top.v && vvp sim
`timescale 1ns/1ps
module tb_accel;
  localparam IMAGES = {n}, ROWS = {rows}, BEATS = {bpi}, WBEATS = {wbeats}, PERIOD = {period};
  localparam BUDGET = 2000000;
  reg clk = 0;
  always #5 clk = ~clk;
  reg rst = 1;
  reg img_valid = 0;
  wire img_ready;
  reg [{v["image_beat_bits"] - 1}:0] img_data = 0;
  wire lg_valid;
  wire [{lb - 1}:0] lg_data;
  wire tr_valid, busy, done;
  wire [{trace_bits - 1}:0] tr_data;
{wdecl}  reg [{v["image_beat_bits"] - 1}:0] rowmem [0:IMAGES*ROWS-1];
  reg [{lb - 1}:0] expect [0:IMAGES*BEATS-1];
  reg [{lb - 1}:0] mask [0:BEATS-1];
  reg [31:0] cycles_expected [0:IMAGES-1];
  initial begin
    $readmemh("images.hex", rowmem);
    $readmemh("logits_expected.hex", expect);
    $readmemh("logits_mask.hex", mask);
    $readmemh("cycles_expected.hex", cycles_expected);
  end
  accel_top dut (
    .clk(clk), .rst(rst),
    .image__valid(img_valid), .image__ready(img_ready), .image__payload(img_data),
{wport}    .logits__valid(lg_valid), .logits__ready(1'b1), .logits__payload(lg_data),
    .trace__valid(tr_valid), .trace__payload(tr_data),
    .busy(busy), .done(done));
  integer img, k, beat, cycle, start, errors, spent;
  initial begin
    errors = 0;
    repeat (3) @(negedge clk);
    rst = 0;
    for (img = 0; img < IMAGES; img = img + 1) begin
      k = 0; beat = 0; cycle = 0; start = -1;{" wb = 0; wait_w = 0;" if streamed else ""}
      spent = 0;
      while (spent < BUDGET) begin
        @(negedge clk);
        img_valid = (k < ROWS);
        if (img_valid) img_data = rowmem[img*ROWS + k];
{wdrive}        @(posedge clk);
        if (img_valid && img_ready) begin
          if (start < 0) start = cycle;
          k = k + 1;
        end
{wtake}        if (lg_valid) begin
          if (((lg_data ^ expect[img*BEATS + beat]) & mask[beat]) != 0) begin
            $display("LOGITS image %0d beat %0d: expected %h, got %h (checked bits %h)", img, beat,
                     expect[img*BEATS + beat], lg_data, mask[beat]);
            errors = errors + 1;
          end
          beat = beat + 1;
        end
        cycle = cycle + 1;
        spent = spent + 1;
        if (done && start >= 0) spent = BUDGET + 1;
      end
      if (spent == BUDGET) begin
        $display("WATCHDOG image %0d: no done within %0d cycles", img, BUDGET);
        errors = errors + 1;
      end else begin
        if (beat != BEATS) begin
          $display("COVERAGE image %0d: %0d logits beats, expected %0d", img, beat, BEATS);
          errors = errors + 1;
        end
        if (cycle - start != cycles_expected[img]) begin
          $display("CYCLES image %0d: rtl %0d, model %0d", img, cycle - start, cycles_expected[img]);
          errors = errors + 1;
        end else
          $display("image %0d: %0d cycles, as the model says", img, cycle - start);
      end
    end
    if (errors == 0) $display("PASS: %0d image(s), logits and cycles as expected", IMAGES);
    else $display("FAIL: %0d error(s)", errors);
    $finish;
  end
endmodule
"""
