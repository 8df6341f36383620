// `streamfit <command> --help`: every flag of every command, in one place so the list and the usage line cannot drift apart.

const runFlagsHelp = `  --config FILE           pipeline file (definePipeline); default pipelines/default.ts
  --data PATH             folder of class folders, .csv/.jsonl manifest, or tar shards ('shards/train-{000..099}.tar')
  --model NAME            efficientnet-b0 … efficientnet-b7, or file:<folder> (a tfjs layers model)
  --weights FOLDER        pretrained weights in the tfjs layers format (then: head first, then fine-tuning)
  --image-size N          input side in pixels
  --epochs N              epochs of the first phase (the head, when --weights is given)
  --fine-tune-epochs N    epochs of the fine-tuning phase (top fineTuneBlocks blocks)
  --batch-size N          samples per optimizer update (the effective batch)
  --micro-batch N         samples per forward/backward pass; must divide --batch-size (default: --batch-size,
                          no accumulation); accumulation = batch size / micro-batch
  --optimizer NAME        adam | adamw | sgd | rmsprop
  --lr X                  learning rate
  --memory SIZE           device memory budget (8GiB); with planner: true it picks the micro-batch
  --backend NAME          tfjs-node-gpu | tfjs-node | wasm | cpu (default: the first that works)
  --seed N                seeds the split, shuffling and augmentation
  --out FOLDER            run folder (default runs/<name>)
  --name NAME             run name (default <model>-<time>)
  --overrides FILE.json   config fields laid over the pipeline's
  --json                  print the result as one JSON line on stdout`;

export const commandHelp: Record<string, string> = {
  inspect: `usage: streamfit inspect <folder|manifest|tar pattern> [flags]
Decodes every image (source → decode → resize → render) and reports classes and quarantined files.
  --image-size N          side the images are planned at (default 600)
  --json                  print the result as one JSON line on stdout`,
  train: `usage: streamfit train [flags]
Trains a classifier into a run folder (config.json, metrics.jsonl, checkpoints/, model/, report.html).
${runFlagsHelp}
  --resume                continue the run in --out from its latest checkpoint`,
  sweep: `usage: streamfit sweep [flags]
Trains the trials of a search space (the pipeline file's \`space\`), each in its own run folder, with successive halving.
  --trials N              trials to sample (default 8)
  --concurrency N         trials at once (default 1)
  --eta X                 successive-halving factor (default 3)
  --min-epochs N          epochs of the first rung (default 1)
${runFlagsHelp.replace('pipelines/default.ts', 'pipelines/sweep.ts')}`,
  predict: `usage: streamfit predict --model runs/NAME/model <folder|manifest|tar pattern> [flags]
Class probabilities for every image, with the preprocessing stored in the model.
  --model FOLDER          a model saved by streamfit train
  --batch-size N          images per forward pass (default 16); --batch is an alias
  --top N                 classes listed per image (default 3)
  --backend NAME          tfjs-node-gpu | tfjs-node | wasm | cpu
  --json                  print the result as one JSON line on stdout`,
  evaluate: `usage: streamfit evaluate --model runs/NAME/model <labelled folder|manifest|tar pattern> [flags]
Loss, accuracy, top-k, per-class accuracy and the confusion matrix, with the preprocessing stored in the model.
  --model FOLDER          a model saved by streamfit train
  --batch-size N          images per forward pass (default 16); --batch is an alias
  --top-k N               k of the top-k accuracy (default 5)
  --backend NAME          tfjs-node-gpu | tfjs-node | wasm | cpu
  --json                  print the result as one JSON line on stdout`,
  plan: `usage: streamfit plan --memory SIZE [flags]
The micro-batch (a divisor of the batch size) and recomputation that fit a device memory budget, from the built model.
  --model NAME            efficientnet-b0 … efficientnet-b7 (default efficientnet-b0)
  --image-size N          input side (default: the variant's resolution)
  --batch-size N          samples per optimizer update (default 32); --batch is an alias
  --memory SIZE           the budget (8GiB, 512MiB)
  --optimizer NAME        adam | adamw | sgd | rmsprop (default adam): its slots count
  --freeze MODE           none | all | top:K (blocks that train; default none)
  --classes N             classes of the head (default 1000)
  --measure               run real steps at the planned micro-batch and add measuredPeakBytes
  --backend NAME          backend for --measure (default: the ladder; cpu without --measure)
  --json                  print the result as one JSON line on stdout`,
  models: `usage: streamfit models [--json]
The EfficientNet variants with their resolution, parameter count and scaling coefficients.`,
  weights: `usage: streamfit weights import <keras.h5> --model efficientnet-bN --out FOLDER [--json]
Keras .h5 weights → a tfjs layers model for --weights.`,
  bench: `usage: streamfit bench pipeline|train|cache [flags]
Benchmarks that print JSON with their baseline measured in the same run.
  bench pipeline
    --images N            JPEGs to stream (default 400)
  bench train
    --backend NAME        backend to time (default: the ladder)
    --model NAME          efficientnet-b0 … b7 (default efficientnet-b0)
    --image-size N        input side (default 128)
    --batch-size N        samples per step (default 8); --batch is an alias
    --steps N             timed steps after one warm-up (default 3)
    --baseline NAME       the same steps on another backend, in a child process
    --baseline-steps N    steps of the baseline (default 1)
    --pytorch             the same steps in PyTorch (torchvision), when python3-torchvision is installed
  bench cache
    --data PATH           dataset (default fixtures/generated/shapes)
    --image-size N        input side (default 128)
    --epochs N            epochs of each trial (default 5)`,
};
