/** One server call's life on screen: progress shown at once, the result, or the error in words. */
import { useEffect, useEffectEvent, useState } from "react";

import { humanMessage } from "./errors";

export type Loaded<T> =
  | { state: "loading" }
  | { state: "done"; value: T }
  | { state: "failed"; message: string; retry: () => void };

/** Runs `load` whenever `key` (what is loaded) changes or the customer retries; a result that
 * belongs to an earlier key or attempt is never shown. */
export function useLoad<T>(load: () => Promise<T>, key: string): Loaded<T> {
  const [attempt, setAttempt] = useState(0);
  const [result, setResult] = useState<{ key: string; attempt: number; loaded: Loaded<T> } | null>(null);
  const start = useEffectEvent(load);
  useEffect(() => {
    let current = true;
    const settle = (loaded: Loaded<T>) => {
      if (current) {
        setResult({ key, attempt, loaded });
      }
    };
    start().then(
      (value) => settle({ state: "done", value }),
      (error: unknown) =>
        settle({ state: "failed", message: humanMessage(error), retry: () => setAttempt((n) => n + 1) }),
    );
    return () => {
      current = false;
    };
  }, [key, attempt]);
  if (result === null || result.key !== key || result.attempt !== attempt) {
    return { state: "loading" };
  }
  return result.loaded;
}

export function newKey(): string {
  return `web-${crypto.randomUUID()}`;
}
