import { spawn } from 'node:child_process';
import { killQuietly } from './local-processes';

describe('killQuietly', () => {
  it('refuses the pids that would signal a whole process group or every process', () => {
    const kill = jest.spyOn(process, 'kill');
    try {
      killQuietly(0);
      killQuietly(-1);
      killQuietly(Number.NaN);
      expect(kill).not.toHaveBeenCalled();
    } finally {
      kill.mockRestore();
    }
  });

  it('kills a real process by pid', async () => {
    const child = spawn('sleep', ['30']);
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once('exit', (_code, signal) => resolve(signal)),
    );
    killQuietly(child.pid as number);
    expect(await exited).toBe('SIGKILL');
  });
});
