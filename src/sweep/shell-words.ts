// Shell words both ways: splitting a `--slurm-args '…'` string as sh would (quotes, backslashes; no expansion), and quoting
// words for the batch scripts the sweep writes.

import { FlagError } from '../errors.ts';

/** Splits like POSIX sh without expansions: whitespace separates, '…' is literal, "…" and \ escape. */
export function splitShellWords(text: string, flag: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quote === "'") {
      if (char === "'") quote = undefined;
      else word += char;
    } else if (quote === '"') {
      if (char === '"') quote = undefined;
      else if (char === '\\' && i + 1 < text.length && '"\\$`'.includes(text[i + 1])) word += text[++i];
      else word += char;
    } else if (char === "'" || char === '"') {
      quote = char;
      inWord = true;
    } else if (char === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(char)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += char;
      inWord = true;
    }
  }
  if (quote) throw new FlagError(flag, `unclosed ${quote} in ${JSON.stringify(text)}`);
  if (inWord) words.push(word);
  return words;
}

/** One word for sh: left bare when it is plainly safe, single-quoted otherwise. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
