// Errors that say what went wrong and where: a file, a config field or a CLI flag.

export class StreamfitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A file or folder that is missing, unreadable or malformed. */
export class DataError extends StreamfitError {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
  }
}

/** A config value that does not fit its schema. */
export class ConfigError extends StreamfitError {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`config field '${field}': ${reason}`);
  }
}

/** A command-line flag that is unknown, missing or has a bad value. */
export class FlagError extends StreamfitError {
  constructor(
    readonly flag: string,
    readonly reason: string,
  ) {
    super(`flag ${flag}: ${reason}`);
  }
}

/** `--resume` on a folder that holds no run to continue (no config.json, or no checkpoint). */
export class NothingToResume extends StreamfitError {
  constructor(
    readonly runDir: string,
    readonly reason: string,
  ) {
    super(`nothing to resume in ${runDir}: ${reason}`);
  }
}

/** A run whose data cannot teach anything (one class, an empty class, no samples on a side of the split, no steps): refused. */
export class NothingToTrain extends StreamfitError {
  constructor(
    readonly dataset: string,
    readonly reason: string,
  ) {
    super(`${dataset}: nothing to train: ${reason}`);
  }
}

/** More of the run's files were quarantined than `maxQuarantined` allows: the rest cannot be trusted to teach the model. */
export class TooManyQuarantined extends StreamfitError {
  constructor(
    readonly count: number,
    readonly files: number,
    readonly share: number,
    readonly file: string | undefined,
  ) {
    super(
      `${count} of ${files} files quarantined (${percent(count / files)}), more than maxQuarantined ${percent(share)} allows: the run stops${file ? `; reasons in ${file}` : ''}`,
    );
  }
}

/** A run folder that another streamfit process is writing (its lock names the process). */
export class RunFolderInUse extends StreamfitError {
  constructor(
    readonly folder: string,
    readonly holder: string,
  ) {
    super(`${folder} is in use by ${holder}: wait for it to end, or choose another --out`);
  }
}

/** A stage option out of range, caught when the stage is made (p-queue's wording: Expected `x` to be …, got `v`). */
export class OptionError extends StreamfitError {
  constructor(
    readonly stage: string,
    readonly option: string,
    readonly expected: string,
    readonly value: unknown,
  ) {
    super(`${stage}: Expected \`${option}\` to be ${expected}, got \`${describeValue(value)}\` (${typeof value})`);
  }
}

/**
 * The machine failed, not the data (too many open files, no memory, no permission, an I/O error): the run stops with one
 * line instead of quarantining sample after sample.
 */
export class SystemError extends StreamfitError {
  constructor(
    readonly file: string,
    readonly code: string,
    readonly reason: string,
  ) {
    super(`${file}: ${code}: ${reason} (a problem of the machine, not of this image: the run stops)`);
  }
}

function percent(share: number): string {
  return `${(share * 100).toFixed(1)} %`;
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
