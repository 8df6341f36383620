"""PyTorch baseline for `streamfit bench train`: EfficientNet-B0 training steps on the CPU, as torchvision builds it.

Usage: python3 bench/pytorch_train.py --image-size 128 --batch 8 --steps 3 --threads 2
Prints one JSON line. Needs Debian's python3-torchvision (PyTorch 1.13); nothing is downloaded.
"""
import argparse
import json
import time

import torch
import torchvision

parser = argparse.ArgumentParser()
parser.add_argument("--image-size", type=int, default=128)
parser.add_argument("--batch", type=int, default=8)
parser.add_argument("--steps", type=int, default=3)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--classes", type=int, default=10)
args = parser.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(0)
model = torchvision.models.efficientnet_b0(num_classes=args.classes)
model.train()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = torch.nn.CrossEntropyLoss()
x = torch.rand(args.batch, 3, args.image_size, args.image_size)
y = torch.randint(0, args.classes, (args.batch,))


def step():
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()


step()  # warm-up
start = time.perf_counter()
cpu_start = time.process_time()
for _ in range(args.steps):
    step()
ms = (time.perf_counter() - start) * 1000 / args.steps
cpu_ms = (time.process_time() - cpu_start) * 1000 / args.steps  # all threads
print(json.dumps({"framework": "pytorch", "version": torch.__version__, "threads": args.threads, "msPerStep": ms, "cpuMsPerStep": cpu_ms, "imagesPerSec": args.batch * 1000 / ms}))
