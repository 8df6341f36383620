"""Peak CUDA memory of one EfficientNet training step in PyTorch (torchvision), for checking streamfit's planner.

Usage: python3 pytorch_memory.py [--model efficientnet_b7] [--size 600] [--micro 1,2,4] [--classes 1000]
Prints one JSON line per (micro-batch, recompute, precision): peak bytes, the static part (weights, grads, Adam) and
activations = peak - static. Needs a CUDA GPU; no weights are downloaded (random init).
"""
import argparse, json, torch, torchvision
from torch.utils.checkpoint import checkpoint

parser = argparse.ArgumentParser()
parser.add_argument('--model', default='efficientnet_b7')
parser.add_argument('--size', type=int, default=600)
parser.add_argument('--micro', default='1,2,4')
parser.add_argument('--classes', type=int, default=1000)
args = parser.parse_args()

def blocks(model):
    # features[0] is the stem, features[1..7] the stages of MBConv blocks, features[8] the head conv.
    out = [model.features[0]]
    for stage in model.features[1:-1]:
        out.extend(stage)
    out.append(model.features[-1])
    return out

def step(model, x, y, optimizer, recompute, amp):
    with torch.autocast('cuda', dtype=torch.float16, enabled=amp):
        h = x
        for block in blocks(model):
            h = checkpoint(block, h, use_reentrant=False) if recompute else block(h)
        h = torch.flatten(model.avgpool(h), 1)
        loss = torch.nn.functional.cross_entropy(model.classifier(h), y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=False)

for amp in (False, True):
    for recompute in (False, True):
        for micro in [int(m) for m in args.micro.split(',')]:
            torch.cuda.empty_cache()
            model = getattr(torchvision.models, args.model)(weights=None, num_classes=args.classes).cuda().train()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
            x = torch.randn(micro, 3, args.size, args.size, device='cuda')
            y = torch.randint(0, args.classes, (micro,), device='cuda')
            step(model, x, y, optimizer, recompute, amp)  # creates grads and Adam slots
            torch.cuda.synchronize()
            static = torch.cuda.memory_allocated() - x.numel() * 4 - y.numel() * 8
            torch.cuda.reset_peak_memory_stats()
            step(model, x, y, optimizer, recompute, amp)
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated()
            reserved = torch.cuda.max_memory_reserved()
            params = sum(p.numel() for p in model.parameters())
            print(json.dumps({'model': args.model, 'size': args.size, 'micro': micro, 'recompute': recompute, 'amp': amp,
                              'params': params, 'peakBytes': peak, 'reservedBytes': reserved, 'staticBytes': static,
                              'activationBytes': peak - static, 'torch': torch.__version__,
                              'gpu': torch.cuda.get_device_name()}), flush=True)
            del model, optimizer, x, y
