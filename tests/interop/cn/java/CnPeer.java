package tern.interop;

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.text.SimpleDateFormat;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.Date;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.IntConsumer;
import java.util.function.ToIntFunction;
import java.util.function.ToLongFunction;

import com.zx.sms.BaseMessage;
import com.zx.sms.common.GlobalConstance;
import com.zx.sms.common.util.ChannelUtil;
import com.zx.sms.connect.manager.EndpointEntity;
import com.zx.sms.connect.manager.EndpointEntity.ChannelType;
import com.zx.sms.connect.manager.EndpointManager;
import com.zx.sms.handler.api.AbstractBusinessHandler;
import com.zx.sms.handler.api.BusinessHandlerInterface;
import com.zx.sms.session.AbstractSessionStateManager;
import com.zx.sms.session.cmpp.SessionState;

import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.util.concurrent.Promise;

/**
 * What the SGIP and SMGP peers (SgipPeer, SmgpPeer) share: one JSON line per event on
 * stdout, `--name value` arguments, the bookkeeping of a client run (which submits are still
 * owed a status report, how many MOs came), a client's login, submits and goodbye, and the
 * server's listener, session lines, timers, acknowledgements and stdin control lines. Nothing
 * in here knows a protocol: what differs comes in as SMSGate's classes and small functions.
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
        return with(m, kv);
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

    /** m with the name-value pairs kv added. */
    static Map<String, Object> with(Map<String, Object> m, Object... kv) {
        for (int i = 0; i + 1 < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
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

    /**
     * The parts of a long message as SMSGate hands it up, in part order: the first part to
     * arrive carries the merged text, the others are its fragments.
     */
    static <M> List<M> parts(M full, List<M> fragments, ToIntFunction<M> partNo) {
        List<M> parts = new ArrayList<>();
        parts.add(full);
        if (fragments != null) parts.addAll(fragments);
        parts.sort(Comparator.comparingInt(partNo));
        return parts;
    }

    /** pk_total, msg_ids and parts (each as partJson has it) of a whole message's line. */
    static <M> Object[] partsJson(List<M> parts, Function<M, Map<String, Object>> partJson) {
        List<Map<String, Object>> list = new ArrayList<>();
        List<Object> ids = new ArrayList<>();
        for (M p : parts) {
            Map<String, Object> pj = partJson.apply(p);
            list.add(pj);
            ids.add(pj.get("msg_id"));
        }
        return new Object[] {"pk_total", parts.size(), "msg_ids", ids, "parts", list};
    }

    static List<BusinessHandlerInterface> handlers(BusinessHandlerInterface h) {
        List<BusinessHandlerInterface> l = new ArrayList<>();
        l.add(h);
        return l;
    }

    // ------------------------------------------------------------------ client

    /** The text a client sends: --text, else a short or long, ASCII or UCS-2 one naming the protocol. */
    static String text(Args a, String protocol) {
        boolean ucs2 = a.flag("ucs2");
        if (a.flag("long")) {
            return a.str("text", ucs2
                    ? "长短信测试 {i}：这是一条很长的中文短信，用来检查网关是否能够正确地拆分和重组超过七十个字符的消息。"
                            + "每一个分段都有自己的消息编号和状态报告，最后由接收方按照用户数据头重新拼接成完整的内容。谢谢！"
                    : "SMSGate long message {i}: this text is longer than one " + protocol + " submit can carry, "
                            + "so SMSGate splits it into parts with a user data header (TP_udhi=1, 05 00 03 ref total "
                            + "seq) and every part gets its own message id and status report. The end.");
        }
        return a.str("text", ucs2 ? "你好，Tern！" + protocol + " 网关测试 {i}" : "Hello from SMSGate {i}");
    }

    /**
     * A client's login: the response printed as `event` with its status under `key` (a
     * refusal too, which SMSGate only logs before it closes), and the wait for the session.
     */
    static final class Login {
        final String command;
        final String event;
        final String key;
        final String doneKey;
        private final CountDownLatch up = new CountDownLatch(1);
        private final CountDownLatch over = new CountDownLatch(1);
        private volatile long status = -1;

        /** command: the request's name (Bind, Login); doneKey: the status's name on the final line. */
        Login(String command, String event, String key, String doneKey) {
            this.command = command;
            this.event = event;
            this.key = key;
            this.doneKey = doneKey;
        }

        /** The session is up (SMSGate's SessionState.Connect). */
        void up() {
            up.countDown();
        }

        /**
         * A handler for the front of the pipeline (before SMSGate's login manager) that prints
         * the response of type resp, with more's fields, and the end of the connection.
         */
        <R> ChannelDuplexHandler spy(Class<R> resp, ToLongFunction<R> status, Function<R, Object[]> more) {
            return new ChannelDuplexHandler() {
                @Override
                public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
                    if (resp.isInstance(msg)) {
                        R r = resp.cast(msg);
                        long s = status.applyAsLong(r);
                        Login.this.status = s;
                        emit(with(ev(event, key, s), more.apply(r)));
                        if (s != 0) over.countDown();
                    }
                    ctx.fireChannelRead(msg);
                }

                @Override
                public void channelInactive(ChannelHandlerContext ctx) throws Exception {
                    emit("closed");
                    over.countDown();
                    ctx.fireChannelInactive();
                }
            };
        }

        /**
         * Waits for the TCP connection f and then the session: 0 once it is up, otherwise the
         * exit status after the final line (2 TCP connect failed, 3 refused, 1 no response).
         */
        int await(ChannelFuture f, long deadline) throws InterruptedException {
            if (f == null || !f.await(Math.max(1, deadline - System.currentTimeMillis())) || !f.isSuccess()) {
                emit("done", "submitted", 0, "ok", 0, "reports", 0, "error",
                        "TCP connect failed: " + (f == null ? "no future" : String.valueOf(f.cause())));
                return 2;
            }
            while (up.getCount() > 0 && over.getCount() > 0 && System.currentTimeMillis() < deadline) {
                up.await(50, TimeUnit.MILLISECONDS);
            }
            if (up.getCount() == 0) return 0;
            if (status > 0) {
                emit("done", "submitted", 0, "ok", 0, "reports", 0, doneKey, status,
                        "error", command + " refused with " + key + " " + status);
                return 3;
            }
            emit("done", "submitted", 0, "ok", 0, "reports", 0, "timeout", true, "error", "no " + command + "_Resp");
            return 1;
        }
    }

    /** What a client reads from a submit response: the id its part got, its status, the fields of its line. */
    static final class Resp {
        final String msgId;
        final long status;
        final Object[] fields;

        Resp(String msgId, long status, Object... fields) {
            this.msgId = msgId;
            this.status = status;
            this.fields = fields;
        }
    }

    /**
     * Submits --count messages of text (a {i} in it becomes the message number) to entity,
     * each made by build and split by SMSGate when long, and waits for every part's response,
     * which read reads (null: not a submit response). An accepted part owes a report when
     * report is set.
     */
    static void submit(EndpointEntity entity, Tally tally, long deadline, int count, String text, boolean report,
            String dest, String src, Function<String, BaseMessage> build, Function<BaseMessage, Resp> read)
            throws Exception {
        for (int i = 1; i <= count; i++) {
            String t = text.replace("{i}", String.valueOf(i));
            List<Promise<BaseMessage>> ps = ChannelUtil.syncWriteLongMsgToEntity(entity, build.apply(t));
            if (ps == null) {
                emit("error", "error", "submit " + i + ": not connected");
                break;
            }
            tally.submitted++;
            emit("submit", "n", i, "text", t, "parts", ps.size(), "dest", dest, "src", src);
            int partNo = 0;
            for (Promise<BaseMessage> p : ps) {
                partNo++;
                tally.parts++;
                BaseMessage r = await(p, deadline, Map.of("n", i, "part", partNo), tally);
                if (r == null) continue;
                Resp resp = read.apply(r);
                if (resp == null) {
                    emit("submit_resp_unexpected", "n", i, "part", partNo, "msg", String.valueOf(r));
                    continue;
                }
                emit(with(ev("submit_resp", "n", i, "part", partNo, "parts", ps.size(), "msg_id", resp.msgId),
                        resp.fields));
                if (resp.status == 0) {
                    tally.ok++;
                    if (report) tally.expectReport(resp.msgId);
                }
            }
        }
    }

    /**
     * A client run's end: waits for the reports and --expect-mo MOs, stays --linger-ms, ends
     * the session with bye (SGIP Unbind, SMGP Exit: its response, waited for at most 2 s, is
     * printed as `event`), and prints the final line; returns the exit status.
     */
    static int finish(Args a, Tally tally, long deadline, int count, EndpointEntity entity, BaseMessage bye,
            String event) throws Exception {
        int moWanted = (int) a.num("expect-mo", 0);
        tally.await(deadline, moWanted);
        long linger = a.num("linger-ms", 0);
        if (linger > 0) Thread.sleep(Math.min(linger, Math.max(0, deadline - System.currentTimeMillis())));
        List<Promise<BaseMessage>> ps = ChannelUtil.syncWriteLongMsgToEntity(entity, bye);
        if (ps != null && !ps.isEmpty()) {
            long until = Math.min(deadline, System.currentTimeMillis() + 2000);
            BaseMessage r = await(ps.get(0), until, Map.of("command", bye.getClass().getSimpleName()), null);
            emit(event, "ok", r != null);
        }
        return tally.done(count, moWanted, null);
    }

    // ------------------------------------------------------------------ server

    /**
     * Writes m on ch's session, the connection a request came over, when it is still up;
     * null otherwise (or when it is not of channel type only, when only is given).
     */
    @SuppressWarnings({"unchecked", "rawtypes"})
    static List<Promise<BaseMessage>> onChannel(Channel ch, BaseMessage m, ChannelType only) {
        if (ch == null || !ch.isActive()) return null;
        EndpointEntity e = ch.attr(GlobalConstance.entityPointKey).get();
        AbstractSessionStateManager s = ch.attr(GlobalConstance.sessionKey).get();
        if (s == null || (only != null && (e == null || e.getChannelType() != only))) return null;
        List<Promise<BaseMessage>> l = new ArrayList<>();
        l.add((Promise<BaseMessage>) s.writeMessagesync(m));
        return l;
    }

    /** Opens server's listener; returns the port it listens on. */
    static int listen(EndpointEntity server) throws Exception {
        EndpointManager.INS.addEndpointEntity(server);
        ChannelFuture bound = server.getSingletonConnector().open();
        return ((InetSocketAddress) bound.channel().localAddress()).getPort();
    }

    /** Sends an MO: mobile to spNumber; whether it went out. */
    interface MoSender {
        boolean send(String mobile, String spNumber, String text);
    }

    /**
     * Opens server's listener and prints `listening` with its port and fields, then takes
     * stdin control lines (MOs through mo) and runs until signalled; 2 when it cannot listen.
     */
    static int serve(EndpointEntity server, MoSender mo, Object... fields) throws Exception {
        int port;
        try {
            port = listen(server);
        } catch (Exception e) {
            emit("error", "error", "cannot listen on " + server.getHost() + ":" + server.getPort() + ": " + e);
            return 2;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> emit("exit")));
        emit(with(ev("listening", "port", port), fields));
        controlLoop(p -> mo.send(p[0], p[1], p[2]));
        return 0;
    }

    /**
     * Prints each response to ps once it comes: `ok` with its result (read by result when it
     * is a resp), else `failed` with what came instead or why nothing did; kv in both lines.
     */
    static <R> void acks(List<Promise<BaseMessage>> ps, Class<R> resp, ToLongFunction<R> result, String ok,
            String failed, Object... kv) {
        for (Promise<BaseMessage> p : ps) {
            p.addListener(f -> {
                if (f.isSuccess() && resp.isInstance(f.getNow())) {
                    emit(with(ev(ok, kv), "result", result.applyAsLong(resp.cast(f.getNow()))));
                } else {
                    emit(with(ev(failed, kv), "error", String.valueOf(f.isSuccess() ? f.getNow() : f.cause())));
                }
            });
        }
    }

    /** Calls again with the next attempt in 500 ms, up to 5 attempts; then prints report_failed for msgId. */
    static void retry(int attempt, IntConsumer again, String msgId, String why) {
        if (attempt < 5) {
            TIMER.schedule(() -> again.accept(attempt + 1), 500, TimeUnit.MILLISECONDS);
        } else {
            emit("report_failed", "msg_id", msgId, "error", why);
        }
    }

    /** The MOs --mo-every-ms asks for (--mo-count of them, 0: no end), sent by mo from the first session on. */
    static MoTimer moTimer(Args a, MoSender mo) {
        String text = a.str("mo-text", "MO {i}");
        return new MoTimer(a.num("mo-every-ms", 0), a.num("mo-count", 0),
                n -> mo.send(a.str("mo-src", "13800138000"), a.str("mo-dest", "10658762"),
                        text.replace("{i}", String.valueOf(n))));
    }

    /**
     * A server's business handler: prints session_up (starting the MO timer) and
     * session_down; subclasses read the requests.
     */
    abstract static class ServerSessions extends AbstractBusinessHandler {
        private final MoTimer moTimer;

        ServerSessions(MoTimer moTimer) {
            this.moTimer = moTimer;
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
            if (evt == SessionState.Connect) {
                EndpointEntity e = ctx.channel().attr(GlobalConstance.entityPointKey).get();
                emit("session_up", "remote", String.valueOf(ctx.channel().remoteAddress()),
                        "channel_type", e == null ? null : String.valueOf(e.getChannelType()));
                moTimer.start();
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) throws Exception {
            emit("session_down", "remote", String.valueOf(ctx.channel().remoteAddress()));
            ctx.fireChannelInactive();
        }
    }
}
