#!/usr/bin/env python3
"""diffusers' own SDXL UNet on the card, next to indetail's (bench/suites/unet-gpu-sdxl.mjs).

UNet2DConditionModel of diffusers v0.26.2 (the packed reference folder made from ../shared/gpu-ref, whose
bench_reference.py this script imports for its import set-up, random initialisation and timing), built from
configs/sdxl/unet/config.json (SDXL base 1.0, 2.57 B parameters) with random weights (N(0, 0.02), biases 0, norms
1/0), on the device's torch, fp16, 128x128 latents, batch 1, 3 and 9 (the conflict-free batches of 0, 1 and 4
samples), encoder_hidden_states [B, 77, 2048], added_cond_kwargs text_embeds [B, 1280] and time_ids
(1024, 1024, 0, 0, 1024, 1024); one warm-up, then --iters calls between CUDA events; torch's SDPA attention
(diffusers' default processor). Writes JSON (--out) and a table on stdout.

    python3 bench/gpu-ref/sdxl_unet_reference.py --gpu-ref .gpu-ref --out $OUT/reference_sdxl_unet.json
"""
import sys

sys.dont_write_bytecode = True

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gpu-ref", default=os.path.join(ROOT, ".gpu-ref"), help="the packed reference folder (bench_reference.py)")
    p.add_argument("--config", default=os.path.join(ROOT, "configs", "sdxl", "unet", "config.json"))
    p.add_argument("--batches", default="1,3,9")
    p.add_argument("--size", type=int, default=128, help="latent height = width")
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--device", default=None, help="cuda (default when available) or cpu")
    p.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"])
    p.add_argument("--out", default=None)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    ref_dir = os.path.abspath(args.gpu_ref)
    if not os.path.exists(os.path.join(ref_dir, "bench_reference.py")):
        raise SystemExit(f"{ref_dir} has no bench_reference.py: copy ../shared/gpu-ref there (see ../shared/DEVICE.md)")
    sys.path.insert(0, ref_dir)
    import bench_reference as ref  # noqa: E402

    env = ref.setup_reference_env()
    import torch
    from diffusers import UNet2DConditionModel

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = getattr(torch, args.dtype)
    ctx = ref.Ctx(torch, device, dtype)
    with open(args.config) as f:
        config = {k: v for k, v in json.load(f).items() if not k.startswith("_")}
    t0 = time.perf_counter()
    torch.manual_seed(0)
    if ctx.cuda and hasattr(torch, "set_default_device"):
        with torch.device(device):  # parameters created on the GPU directly (as bench_reference.py builds)
            unet = UNet2DConditionModel(**config)
    else:
        unet = UNet2DConditionModel(**config)
    torch.manual_seed(1)
    ref.init_small(unet)
    unet.to(device=device, dtype=dtype).eval().requires_grad_(False)
    build_s = time.perf_counter() - t0
    params = ref.nparams(unet)
    ref.log(f"SDXL UNet built ({params / 1e9:.3f} B parameters) in {build_s:.1f} s on {device}, {args.dtype}")

    card = torch.cuda.get_device_name(device) if ctx.cuda else "cpu"
    peak_tflops = next((v for k, v in ref.DENSE_FP16_PEAK_TFLOPS.items() if k in card), None)
    pooled = config["projection_class_embeddings_input_dim"] - 6 * config["addition_time_embed_dim"]
    px = 8 * args.size
    g = torch.Generator().manual_seed(1234)
    rows = []
    for b in [int(x) for x in args.batches.split(",") if x.strip()]:
        x = torch.randn(b, 4, args.size, args.size, generator=g).to(device, dtype)
        ehs = torch.randn(b, 77, config["cross_attention_dim"], generator=g).to(device, dtype)
        cond = {"text_embeds": torch.randn(b, pooled, generator=g).to(device, dtype),
                "time_ids": torch.tensor([[px, px, 0, 0, px, px]] * b, dtype=dtype, device=device)}
        t = torch.tensor(501, device=device)
        ctx.reset_peak()
        times, wall, out = ref.bench_forward(ctx, lambda: unet(x, t, encoder_hidden_states=ehs, added_cond_kwargs=cond), args.iters)
        out = ref.first_tensor(out)
        med = statistics.median(times)
        rows.append({"batch": b, "latent_hw": args.size, "iters": args.iters, "ms_median": med, "ms_min": min(times),
                     "wall_ms_per_call": wall, "peak_mem": ctx.peak(), "finite": bool(torch.isfinite(out).all().item())})
        ref.log(f"SDXL UNet b={b}: {med:.2f} ms median")
        x = ehs = cond = out = None
    res = {"card": card, "dense_fp16_peak_tflops": peak_tflops, "params": params, "build_s": build_s,
           "dtype": args.dtype, "device": str(device), "config": args.config, "env": env, "unet_forward": rows}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)
    print(f"diffusers {env['diffusers']} SDXL UNet2DConditionModel, {card}, {args.dtype}, {args.size}x{args.size} latents")
    print("batch  ms/step(median)  min ms  peak GiB")
    for r in rows:
        pk = r["peak_mem"]["max_allocated"] / 2 ** 30 if r["peak_mem"] else float("nan")
        print(f"{r['batch']:5d}  {r['ms_median']:15.2f}  {r['ms_min']:6.2f}  {pk:8.2f}")


if __name__ == "__main__":
    main()
