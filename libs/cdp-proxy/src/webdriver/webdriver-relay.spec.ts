import { commandOf } from './webdriver-relay';

describe('commandOf (the command a WebDriver path names, for command records)', () => {
  it.each([
    ['/status', '/status'],
    ['/session', '/session'],
    ['/session/4f1c/url', '/session/{sessionId}/url'],
    ['/session/4f1c/element/f.9A/click', '/session/{sessionId}/element/{elementId}/click'],
    ['/session/4f1c/element/active', '/session/{sessionId}/element/active'],
    ['/session/4f1c/element', '/session/{sessionId}/element'],
    ['/session/4f1c/shadow/s-1/elements', '/session/{sessionId}/shadow/{shadowId}/elements'],
    ['/session/4f1c/window/handles', '/session/{sessionId}/window/handles'],
    ['/session/4f1c/window/rect', '/session/{sessionId}/window/rect'],
    ['/session/4f1c/window', '/session/{sessionId}/window'],
    ['/session/4f1c/cookie/token', '/session/{sessionId}/cookie/{name}'],
    ['/session/4f1c', '/session/{sessionId}'],
  ])('%s → %s', (path, command) => {
    expect(commandOf(path)).toBe(command);
  });
});
