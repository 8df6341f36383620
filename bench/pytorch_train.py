"""PyTorch baseline for `streamfit bench train`: EfficientNet training steps (forward, backward, Adam) as torchvision builds it.

Usage: python3 bench/pytorch_train.py --model efficientnet-b0 --image-size 128 --batch 8 --steps 3 [--device auto|cpu|cuda]
       [--precision fp32,amp] [--threads 2]
Prints one JSON line. On the CPU it needs Debian's python3-torchvision (PyTorch 1.13); on a GPU any PyTorch with
torchvision. Nothing is downloaded (the weights are random: a step costs the same).
--device auto takes the GPU when there is one. --precision amp is autocast to float16 with a gradient scaler (GPU only).
The top-level msPerStep and imagesPerSec are the first precision's.
"""
import argparse
import contextlib
import json
import time

import torch
import torchvision

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="efficientnet-b0")
parser.add_argument("--image-size", type=int, default=128)
parser.add_argument("--batch", type=int, default=8)
parser.add_argument("--steps", type=int, default=3)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--classes", type=int, default=10)
parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
parser.add_argument("--precision", default="fp32")
args = parser.parse_args()

device = "cuda" if args.device == "auto" and torch.cuda.is_available() else ("cpu" if args.device == "auto" else args.device)
if device == "cpu":
    torch.set_num_threads(args.threads)
torch.manual_seed(0)
builder = getattr(torchvision.models, args.model.replace("-", "_"))


def synchronize():
    if device == "cuda":
        torch.cuda.synchronize()


def measure(precision):
    amp = precision == "amp"
    if amp and device != "cuda":
        return {"precision": precision, "unavailable": "autocast is measured on a GPU only"}
    model = builder(num_classes=args.classes).to(device)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cuda") if amp else None
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.rand(args.batch, 3, args.image_size, args.image_size, device=device)
    y = torch.randint(0, args.classes, (args.batch,), device=device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device, dtype=torch.float16) if amp else contextlib.nullcontext():
            loss = loss_fn(model(x), y)
        if scaler:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()

    step()  # warm-up (cuDNN picks its algorithms here)
    synchronize()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    cpu_start = time.process_time()
    for _ in range(args.steps):
        step()
    synchronize()
    ms = (time.perf_counter() - start) * 1000 / args.steps
    cpu_ms = (time.process_time() - cpu_start) * 1000 / args.steps  # all threads
    result = {"precision": precision, "msPerStep": ms, "cpuMsPerStep": cpu_ms, "imagesPerSec": args.batch * 1000 / ms}
    if device == "cuda":
        result["peakBytes"] = torch.cuda.max_memory_allocated()
    del model, optimizer, x, y
    if device == "cuda":
        torch.cuda.empty_cache()
    return result


results = [measure(precision) for precision in args.precision.split(",")]
first = results[0]
summary = {
    "framework": "pytorch",
    "version": torch.__version__,
    "device": device,
    "deviceName": torch.cuda.get_device_name() if device == "cuda" else "cpu",
    "model": args.model,
    "threads": torch.get_num_threads(),
    "msPerStep": first.get("msPerStep"),
    "cpuMsPerStep": first.get("cpuMsPerStep"),
    "imagesPerSec": first.get("imagesPerSec"),
    "results": results,
}
print(json.dumps(summary))
