import { useEffect, useMemo, useSyncExternalStore } from 'react';
import { AuthScreen } from './components/auth-screen.js';
import { ChatShell } from './components/chat-shell.js';
import { ChatContext, type ChatContextValue } from './hooks/use-chat.js';
import type { AuthSession } from './store/auth-session.js';
import { ChatController } from './store/chat-controller.js';
import { ChatStore } from './store/chat-store.js';

/** Signed out: the sign-in screen. Signed in: one store and one live client for that user. */
export function App({ auth }: { auth: AuthSession }) {
  const user = useSyncExternalStore(auth.subscribe, auth.getUser);
  if (!user) {
    return (
      <AuthScreen
        login={(username, password) => auth.login(username, password)}
        register={(username, password) => auth.register(username, password)}
      />
    );
  }
  return <SignedIn key={user.id} auth={auth} />;
}

function SignedIn({ auth }: { auth: AuthSession }) {
  const value = useMemo<ChatContextValue & { actions: ChatController }>(() => {
    const store = new ChatStore();
    return { store, actions: new ChatController(store, auth) };
  }, [auth]);

  useEffect(() => {
    value.actions.start();
    return () => value.actions.stop();
  }, [value]);

  return (
    <ChatContext.Provider value={value}>
      <ChatShell />
    </ChatContext.Provider>
  );
}
