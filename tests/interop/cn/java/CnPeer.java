package tern.interop;

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.text.SimpleDateFormat;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Date;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import io.netty.util.concurrent.Promise;

/**
 * What the SGIP and SMGP peers (SgipPeer, SmgpPeer) share: one JSON line per event on
 * stdout, `--name value` arguments, the bookkeeping of a client run (which submits are still
 * owed a status report, how many MOs came) and the server's timers and stdin control lines.
 * Nothing in here knows a protocol.
 */
final class CnPeer {
    private CnPeer() {
    }

    // ------------------------------------------------------------------ JSON lines out

    private static final PrintStream OUT = new PrintStream(new FileOutputStream(FileDescriptor.out), true,
            StandardCharsets.UTF_8);

    static Map<String, Object> ev(String event, Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("event", event);
        for (int i = 0; i + 1 < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    static synchronized void emit(Map<String, Object> m) {
        StringBuilder sb = new StringBuilder();
        json(sb, m);
        OUT.println(sb);
        OUT.flush();
    }

    static void emit(String event, Object... kv) {
        emit(ev(event, kv));
    }

    @SuppressWarnings("unchecked")
    static void json(StringBuilder sb, Object v) {
        if (v == null) {
            sb.append("null");
        } else if (v instanceof Map) {
            sb.append('{');
            boolean first = true;
            for (Map.Entry<String, Object> e : ((Map<String, Object>) v).entrySet()) {
                if (!first) sb.append(',');
                first = false;
                json(sb, e.getKey());
                sb.append(':');
                json(sb, e.getValue());
            }
            sb.append('}');
        } else if (v instanceof Collection) {
            sb.append('[');
            boolean first = true;
            for (Object o : (Collection<Object>) v) {
                if (!first) sb.append(',');
                first = false;
                json(sb, o);
            }
            sb.append(']');
        } else if (v instanceof Object[]) {
            json(sb, Arrays.asList((Object[]) v));
        } else if (v instanceof Number || v instanceof Boolean) {
            sb.append(v);
        } else {
            String s = v.toString();
            sb.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"': sb.append("\\\""); break;
                    case '\\': sb.append("\\\\"); break;
                    case '\n': sb.append("\\n"); break;
                    case '\r': sb.append("\\r"); break;
                    case '\t': sb.append("\\t"); break;
                    default:
                        if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                        else sb.append(c);
                }
            }
            sb.append('"');
        }
    }

    static String hex(byte[] b) {
        if (b == null) return "";
        StringBuilder sb = new StringBuilder();
        for (byte x : b) sb.append(String.format("%02x", x & 0xff));
        return sb.toString();
    }

    /** Local time in the given pattern (the peers run with TZ=CST-8, see conftest). */
    static String now(String pattern) {
        return new SimpleDateFormat(pattern).format(new Date());
    }

    // ------------------------------------------------------------------ arguments

    static final class Args {
        final Map<String, String> kv = new HashMap<>();
        final Set<String> flags = ConcurrentHashMap.newKeySet();

        Args(String[] argv, int from, Set<String> knownFlags) {
            for (int i = from; i < argv.length; i++) {
                String a = argv[i];
                if (!a.startsWith("--")) throw new IllegalArgumentException("unexpected argument: " + a);
                String name = a.substring(2);
                int eq = name.indexOf('=');
                if (eq >= 0) {
                    kv.put(name.substring(0, eq), name.substring(eq + 1));
                } else if (knownFlags.contains(name)) {
                    flags.add(name);
                } else {
                    if (i + 1 >= argv.length) throw new IllegalArgumentException("missing value for --" + name);
                    kv.put(name, argv[++i]);
                }
            }
        }

        String str(String k, String def) {
            return kv.getOrDefault(k, def);
        }

        String req(String k) {
            String v = kv.get(k);
            if (v == null) throw new IllegalArgumentException("--" + k + " is required");
            return v;
        }

        long num(String k, long def) {
            String v = kv.get(k);
            if (v == null) return def;
            return v.startsWith("0x") || v.startsWith("0X") ? Long.parseLong(v.substring(2), 16) : Long.parseLong(v);
        }

        boolean has(String k) {
            return kv.containsKey(k);
        }

        boolean flag(String k) {
            return flags.contains(k);
        }

        /** HOST:PORT, or null when the argument is absent. */
        Object[] hostPort(String k) {
            String v = kv.get(k);
            if (v == null) return null;
            int colon = v.lastIndexOf(':');
            if (colon <= 0) throw new IllegalArgumentException("--" + k + " must be HOST:PORT");
            return new Object[] {v.substring(0, colon), Integer.parseInt(v.substring(colon + 1))};
        }
    }

    /** A mode's entry point: returns the exit status. */
    interface Mode {
        int run(Args a) throws Exception;
    }

    /**
     * Runs argv[0]'s mode with the rest as arguments: 64 for a usage error, 2 for an
     * unexpected exception (after an "error" line), otherwise what the mode returns.
     */
    static void main(String usage, String[] argv, Map<String, Mode> modes, Map<String, Set<String>> flags) {
        if (argv.length == 0 || argv[0].equals("-h") || argv[0].equals("--help")) {
            System.err.println(usage);
            System.exit(argv.length == 0 ? 64 : 0);
        }
        Mode mode = modes.get(argv[0]);
        if (mode == null) {
            System.err.println(usage);
            System.exit(64);
        }
        int rc;
        try {
            rc = mode.run(new Args(argv, 1, flags.getOrDefault(argv[0], Set.of())));
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.err.println(usage);
            rc = 64;
        } catch (Throwable t) {
            emit("error", "error", String.valueOf(t));
            t.printStackTrace();
            rc = 2;
        }
        System.exit(rc);
    }

    // ------------------------------------------------------------------ client bookkeeping

    /**
     * A client run's counts, and the message ids that still wait for a status report
     * (a report may come before the submit's response is read: it is kept until then).
     */
    static final class Tally {
        int submitted;
        int parts;
        int ok;
        boolean timedOut;
        private final Set<String> wanted = ConcurrentHashMap.newKeySet();
        private final Set<String> got = ConcurrentHashMap.newKeySet();
        private int mo;

        synchronized void expectReport(String id) {
            if (!got.contains(id)) wanted.add(id);
        }

        synchronized void report(String id) {
            got.add(id);
            wanted.remove(id);
        }

        synchronized void mo() {
            mo++;
        }

        synchronized int mos() {
            return mo;
        }

        synchronized boolean reportsMissing() {
            return !wanted.isEmpty();
        }

        /** Waits until every expected report and at least moWanted MOs are in, or the deadline. */
        void await(long deadline, int moWanted) throws InterruptedException {
            while (System.currentTimeMillis() < deadline) {
                synchronized (this) {
                    if (wanted.isEmpty() && mo >= moWanted) return;
                }
                Thread.sleep(20);
            }
        }

        /**
         * The final line and the exit status: 0 all good, 1 timeout (a response, a report or
         * an MO missing), 4 a submit refused.
         */
        synchronized int done(int count, int moWanted, Map<String, Object> extra) {
            boolean missingReports = !wanted.isEmpty();
            boolean missingMo = mo < moWanted;
            Map<String, Object> d = ev("done", "submitted", submitted, "parts", parts, "ok", ok, "reports", got.size(),
                    "mo", mo);
            if (extra != null) d.putAll(extra);
            if (timedOut || missingReports || missingMo) d.put("timeout", true);
            if (missingReports) d.put("missing_reports", new ArrayList<>(wanted));
            emit(d);
            if (timedOut || missingReports || missingMo) return 1;
            return submitted == count && ok == parts ? 0 : 4;
        }
    }

    /** Waits for one response; null (after a line saying why) on timeout or failure. */
    static <T> T await(Promise<T> p, long deadline, Map<String, Object> what, Tally tally) throws InterruptedException {
        long left = deadline - System.currentTimeMillis();
        if (left <= 0 || !p.await(left)) {
            if (tally != null) tally.timedOut = true;
            Map<String, Object> e = ev("resp_timeout");
            e.putAll(what);
            emit(e);
            return null;
        }
        if (!p.isSuccess()) {
            Map<String, Object> e = ev("resp_failed", "error", String.valueOf(p.cause()));
            e.putAll(what);
            emit(e);
            return null;
        }
        return p.getNow();
    }

    // ------------------------------------------------------------------ server helpers

    /** One thread for delayed reports and timed MOs; blocking there never stalls Netty's loops. */
    static final ScheduledExecutorService TIMER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "peer-timer");
        t.setDaemon(true);
        return t;
    });

    /**
     * Sends an MO every everyMs once started, at most count times (0: no limit), through
     * send (which returns whether it went out).
     */
    static final class MoTimer {
        private final long everyMs;
        private final long count;
        private final java.util.function.IntPredicate send;
        private volatile boolean started;
        private int sent;
        private int n;

        MoTimer(long everyMs, long count, java.util.function.IntPredicate send) {
            this.everyMs = everyMs;
            this.count = count;
            this.send = send;
        }

        synchronized void start() {
            if (started || everyMs <= 0) return;
            started = true;
            TIMER.schedule(this::tick, everyMs, TimeUnit.MILLISECONDS);
        }

        private void tick() {
            n++;
            try {
                if (send.test(n)) sent++;
            } catch (Exception e) {
                emit("error", "error", "mo: " + e);
            }
            if (count <= 0 || sent < count) TIMER.schedule(this::tick, everyMs, TimeUnit.MILLISECONDS);
        }
    }

    /**
     * Reads control lines on stdin until EOF (stdin at /dev/null ends at once), then blocks
     * forever: a server runs until it is signalled. 'mo MOBILE SPNUMBER TEXT...' calls mo,
     * 'quit' exits.
     */
    static void controlLoop(Consumer<String[]> mo) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            line = line.trim();
            if (line.isEmpty()) continue;
            String[] p = line.split(" ", 4);
            try {
                if (p[0].equals("mo") && p.length == 4) {
                    mo.accept(new String[] {p[1], p[2], p[3]});
                } else if (p[0].equals("quit")) {
                    System.exit(0);
                } else {
                    emit("error", "error", "unknown control line: " + line);
                }
            } catch (Exception e) {
                emit("error", "error", "control line '" + line + "': " + e);
            }
        }
        Thread.currentThread().join();
    }

    /**
     * The concatenation element of a user data header at the start of content (IEI 00,
     * 8-bit reference, or 08, 16-bit): {iei, ref, total, seq}, or null when there is none.
     */
    static Map<String, Object> concat(byte[] content) {
        if (content == null || content.length < 1) return null;
        int udhl = content[0] & 0xff;
        if (udhl + 1 > content.length) return null;
        int i = 1;
        while (i + 1 <= udhl) {
            int iei = content[i] & 0xff, iel = content[i + 1] & 0xff;
            int v = i + 2;
            if (v + iel > udhl + 1) return null;
            if ((iei == 0x00 && iel == 3) || (iei == 0x08 && iel == 4)) {
                int at = iei == 0x00 ? v + 1 : v + 2;
                Map<String, Object> c = new LinkedHashMap<>();
                c.put("iei", iei);
                c.put("ref", iei == 0x00 ? content[v] & 0xff : ((content[v] & 0xff) << 8) | (content[v + 1] & 0xff));
                c.put("total", content[at] & 0xff);
                c.put("seq", content[at + 1] & 0xff);
                return c;
            }
            i = v + iel;
        }
        return null;
    }

    /** The part number a concatenation UDH gives, 1 without one (to sort parts). */
    static int partNo(byte[] content, int udhi) {
        Map<String, Object> c = udhi != 0 ? concat(content) : null;
        return c == null ? 1 : (Integer) c.get("seq");
    }
}
