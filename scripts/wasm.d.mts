export const root: string;
export function compile(entry: string, outFile: string, extra?: string[]): Promise<void>;
export function optimise(rawFile: string, outFile: string, keepNames?: boolean): number;
