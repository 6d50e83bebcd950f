/** Pure helper of "PerfRL: Optimize the N Hottest Functions" (unit-tested without VS Code). */

/** How many functions to optimize, from the user's answer; undefined when it is not 1-50. */
export function parseHottestCount(answer: string | undefined): number | undefined {
  if (answer === undefined || !/^\s*\d+\s*$/.test(answer)) {
    return undefined;
  }
  const n = Number.parseInt(answer, 10);
  return n >= 1 && n <= 50 ? n : undefined;
}
