import { useCallback, useSyncExternalStore } from 'react';
import { parseRoute, type Route, routeHash } from '../lib/route.js';

function subscribe(onChange: () => void): () => void {
  window.addEventListener('hashchange', onChange);
  return () => window.removeEventListener('hashchange', onChange);
}

const snapshot = () => window.location.hash;

/** The current route and a navigator; the browser's back button works as expected. */
export function useRoute(): [Route, (route: Route, options?: { replace?: boolean }) => void] {
  const hash = useSyncExternalStore(subscribe, snapshot);
  const navigate = useCallback((route: Route, options: { replace?: boolean } = {}) => {
    const next = routeHash(route);
    if (window.location.hash === next) return;
    if (options.replace) {
      window.history.replaceState(null, '', next);
      window.dispatchEvent(new HashChangeEvent('hashchange'));
    } else {
      window.location.hash = next;
    }
  }, []);
  return [parseRoute(hash), navigate];
}
