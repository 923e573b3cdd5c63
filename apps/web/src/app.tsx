import { useEffect, useMemo, useSyncExternalStore } from 'react';
import { AuthScreen } from './components/auth-screen.js';
import { ChatShell } from './components/chat-shell.js';
import { ChatContext, type ChatContextValue } from './hooks/use-chat.js';
import { AlertCenter } from './store/alert-center.js';
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
  const value = useMemo<ChatContextValue & { actions: ChatController; alerts: AlertCenter }>(() => {
    const store = new ChatStore();
    return {
      store,
      actions: new ChatController(store, auth),
      alerts: new AlertCenter(store, auth.getUser()?.id ?? 'anonymous'),
    };
  }, [auth]);

  useEffect(() => {
    value.actions.start();
    // After the controller's own listener: the store has taken the message in.
    const off = value.actions.client.on('message', (message) => value.alerts.onMessage(message));
    return () => {
      off();
      value.actions.stop();
      value.alerts.dispose();
    };
  }, [value]);

  return (
    <ChatContext.Provider value={value}>
      <ChatShell />
    </ChatContext.Provider>
  );
}
