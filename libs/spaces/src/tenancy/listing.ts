export function iso(date: Date | null | undefined): string {
  return date ? date.toISOString() : '';
}
