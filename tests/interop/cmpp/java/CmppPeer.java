import java.io.BufferedReader;
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
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import com.chinamobile.cmos.sms.SmsAlphabet;
import com.chinamobile.cmos.sms.SmsDcs;
import com.chinamobile.cmos.sms.SmsMsgClass;
import com.chinamobile.cmos.sms.SmsTextMessage;
import com.zx.sms.BaseMessage;
import com.zx.sms.codec.cmpp.msg.CmppConnectRequestMessage;
import com.zx.sms.codec.cmpp.msg.CmppConnectResponseMessage;
import com.zx.sms.codec.cmpp.msg.CmppDeliverRequestMessage;
import com.zx.sms.codec.cmpp.msg.CmppDeliverResponseMessage;
import com.zx.sms.codec.cmpp.msg.CmppReportRequestMessage;
import com.zx.sms.codec.cmpp.msg.CmppSubmitRequestMessage;
import com.zx.sms.codec.cmpp.msg.CmppSubmitResponseMessage;
import com.zx.sms.common.GlobalConstance;
import com.zx.sms.common.util.ChannelUtil;
import com.zx.sms.common.util.MsgId;
import com.zx.sms.connect.manager.EndpointEntity;
import com.zx.sms.connect.manager.EndpointManager;
import com.zx.sms.connect.manager.cmpp.CMPPClientEndpointConnector;
import com.zx.sms.connect.manager.cmpp.CMPPClientEndpointEntity;
import com.zx.sms.connect.manager.cmpp.CMPPServerChildEndpointConnector;
import com.zx.sms.connect.manager.cmpp.CMPPServerChildEndpointEntity;
import com.zx.sms.connect.manager.cmpp.CMPPServerEndpointConnector;
import com.zx.sms.connect.manager.cmpp.CMPPServerEndpointEntity;
import com.zx.sms.handler.api.AbstractBusinessHandler;
import com.zx.sms.handler.api.BusinessHandlerInterface;
import com.zx.sms.session.cmpp.SessionState;

import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler.Sharable;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.util.concurrent.Promise;

/**
 * A CMPP 2.0/3.0 peer built on SMSGate (com.chinamobile.cmos:sms-core), for Tern's interop
 * tests. Two modes:
 *
 *   server: an operator ISMG. Accepts CONNECT for one account, answers every SUBMIT (long
 *           messages are reassembled by SMSGate first; every part gets its own SUBMIT_RESP and
 *           Msg_Id), sends a status report DELIVER per part when Registered_Delivery=1, and
 *           can send MO DELIVERs (stdin control lines or --mo-every-ms).
 *   client: an SP. Connects, submits --count messages (long ones split by SMSGate), waits for
 *           the SUBMIT_RESPs and, with --report, the status reports; answers every DELIVER.
 *
 * Every event is one JSON line on stdout; SMSGate's own log goes to stderr.
 */
public final class CmppPeer {

    // ------------------------------------------------------------------ JSON lines out

    private static final PrintStream OUT = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out),
            true, StandardCharsets.UTF_8);

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

        boolean flag(String k) {
            return flags.contains(k);
        }
    }

    static short version(Args a) {
        long v = a.num("version", 0x30);
        if (v != 0x20 && v != 0x30) throw new IllegalArgumentException("--version must be 0x20 or 0x30");
        return (short) v;
    }

    static final String USAGE = String.join("\n",
            "usage:",
            "  CmppPeer server --port P --version 0x20|0x30 --user U --password S",
            "                  [--host 127.0.0.1] [--report-delay-ms 50] [--report-stat DELIVRD]",
            "                  [--submit-result 0] [--no-reports] [--max-channels 8]",
            "                  [--mo-every-ms N --mo-src MOBILE --mo-dest SPNUMBER --mo-text T]",
            "     stdin control lines: 'mo MOBILE SPNUMBER TEXT...'",
            "  CmppPeer client --host H --port P --version 0x20|0x30 --user U --password S",
            "                  [--count 1] [--text T] [--long] [--ucs2] [--report]",
            "                  [--dest 13800138000] [--src-id 10658762] [--msg-src U] [--service-id S]",
            "                  [--timeout-s 30] [--linger-ms 0]",
            "     a {i} in --text is replaced by the message number (1-based)");

    public static void main(String[] argv) {
        if (argv.length == 0 || argv[0].equals("-h") || argv[0].equals("--help")) {
            System.err.println(USAGE);
            System.exit(argv.length == 0 ? 64 : 0);
        }
        try {
            switch (argv[0]) {
                case "server":
                    new Server(new Args(argv, 1, Set.of("no-reports"))).run();
                    break;
                case "client":
                    System.exit(new Client(new Args(argv, 1, Set.of("long", "ucs2", "report"))).run());
                    break;
                default:
                    System.err.println(USAGE);
                    System.exit(64);
            }
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.err.println(USAGE);
            System.exit(64);
        } catch (Throwable t) {
            emit("error", "error", String.valueOf(t));
            t.printStackTrace();
            System.exit(2);
        }
    }

    static String stamp() {
        return new SimpleDateFormat("yyMMddHHmm").format(new Date());
    }

    static Map<String, Object> msgIdJson(MsgId id) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("msg_id", id == null ? null : id.toString());
        m.put("msg_id_hex", id == null ? null : id.toHexString(true));
        return m;
    }

    // ------------------------------------------------------------------ server

    static final class Server {
        final Args a;
        final short version;
        final String user;
        final long reportDelayMs;
        final String reportStat;
        final long submitResult;
        final boolean reports;
        final AtomicInteger gateSeq = new AtomicInteger(1);
        // DELIVER sequence id -> what it carried, to report the DELIVER_RESP
        final Map<Integer, Map<String, Object>> pendingDelivers = new ConcurrentHashMap<>();
        volatile CMPPServerChildEndpointEntity child;

        Server(Args a) {
            this.a = a;
            this.version = version(a);
            this.user = a.req("user");
            this.reportDelayMs = a.num("report-delay-ms", 50);
            this.reportStat = a.str("report-stat", "DELIVRD");
            this.submitResult = a.num("submit-result", 0);
            this.reports = !a.flag("no-reports");
        }

        void run() throws Exception {
            String host = a.str("host", "127.0.0.1");
            int port = (int) a.num("port", -1);
            if (port < 0) throw new IllegalArgumentException("--port is required");

            CMPPServerEndpointEntity server = new SpyServerEntity();
            server.setId("server");
            server.setHost(host);
            server.setPort(port);
            server.setValid(true);
            server.setUseSSL(false);

            CMPPServerChildEndpointEntity c = new ResponderChildEntity();
            c.setId("child-" + user);
            c.setChartset(StandardCharsets.UTF_8);
            c.setGroupName("tern-interop");
            c.setUserName(user);
            c.setPassword(a.req("password"));
            c.setValid(true);
            c.setVersion(version);
            c.setMaxChannels((short) a.num("max-channels", 8));
            c.setRetryWaitTimeSec((short) 30);
            c.setMaxRetryCnt((short) 3);
            c.setReSendFailMsg(false);
            c.setIdleTimeSec((short) 30);
            // the parts of one long message may come over different connections of the account
            c.setRecvLongMsgOnMultiLink(true);
            List<BusinessHandlerInterface> handlers = new ArrayList<>();
            handlers.add(new ServerHandler());
            c.setBusinessHandlerSet(handlers);
            server.addchild(c);
            child = c;

            EndpointManager manager = EndpointManager.INS;
            manager.addEndpointEntity(server);
            ChannelFuture bound;
            try {
                bound = server.getSingletonConnector().open();
            } catch (Exception e) {
                emit("error", "error", "cannot listen on " + host + ":" + port + ": " + e);
                System.exit(2);
                return;
            }
            int actual = ((InetSocketAddress) bound.channel().localAddress()).getPort();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> emit("exit")));
            emit("listening", "port", actual, "version", String.format("0x%02x", version), "user", user);

            long moEvery = a.num("mo-every-ms", 0);
            if (moEvery > 0) {
                Thread t = new Thread(() -> {
                    int n = 0;
                    while (true) {
                        try {
                            Thread.sleep(moEvery);
                            n++;
                            sendMo(a.str("mo-src", "13800138000"), a.str("mo-dest", "10658762"),
                                    a.str("mo-text", "MO {i}").replace("{i}", String.valueOf(n)));
                        } catch (InterruptedException e) {
                            return;
                        } catch (Exception e) {
                            emit("error", "error", "mo: " + e);
                        }
                    }
                }, "mo-timer");
                t.setDaemon(true);
                t.start();
            }

            // Control lines on stdin; EOF (stdin at /dev/null) just ends this loop.
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            String line;
            while ((line = in.readLine()) != null) {
                line = line.trim();
                if (line.isEmpty()) continue;
                String[] p = line.split(" ", 4);
                try {
                    if (p[0].equals("mo") && p.length == 4) {
                        sendMo(p[1], p[2], p[3]);
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

        void sendMo(String mobile, String spNumber, String text) throws Exception {
            CmppDeliverRequestMessage d = new CmppDeliverRequestMessage();
            d.setDestId(spNumber);
            d.setSrcterminalId(mobile);
            d.setServiceid("");
            d.setMsgContent(new SmsTextMessage(text));
            d.setMsgId(new MsgId());
            List<Promise<BaseMessage>> ps = ChannelUtil.syncWriteLongMsgToEntity(child, d);
            if (ps == null) {
                emit("error", "error", "mo: no connected client");
                return;
            }
            emit("mo_sent", "src", mobile, "dest", spNumber, "text", text, "parts", ps.size());
            for (Promise<BaseMessage> p : ps) {
                p.addListener(f -> {
                    if (f.isSuccess()) {
                        Object r = f.getNow();
                        if (r instanceof CmppDeliverResponseMessage) {
                            emit("mo_acked", "result", ((CmppDeliverResponseMessage) r).getResult());
                        }
                    } else {
                        emit("mo_failed", "error", String.valueOf(f.cause()));
                    }
                });
            }
        }

        /**
         * Answers every SUBMIT part as it arrives, before SMSGate's long-message handler holds
         * the parts back until the whole message is in (a real ISMG answers each part, and a
         * client that waits for one SUBMIT_RESP per connection, like cmppy, needs that).
         */
        final class ResponderChildEntity extends CMPPServerChildEndpointEntity {
            @Override
            protected CMPPServerChildEndpointConnector buildConnector() {
                return new CMPPServerChildEndpointConnector(this) {
                    @Override
                    protected void doBindHandler(ChannelPipeline pipe, EndpointEntity entity) {
                        super.doBindHandler(pipe, entity);
                        pipe.addBefore("CMPPSubmitLongMessageHandler", "ternSubmitResponder", new SubmitResponder());
                    }
                };
            }
        }

        @Sharable
        final class SubmitResponder extends ChannelInboundHandlerAdapter {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
                if (msg instanceof CmppSubmitRequestMessage) {
                    CmppSubmitRequestMessage p = (CmppSubmitRequestMessage) msg;
                    MsgId id = new MsgId();
                    // The Msg_Id field of an SP's SUBMIT carries nothing; keeping ours there lets
                    // the merged message tell which id each of its parts got.
                    p.setMsgid(id);
                    Map<String, Object> e = ev("submit_part");
                    e.putAll(partJson(p));
                    e.put("src", p.getSrcId());
                    e.put("dest", p.getDestterminalId().length > 0 ? p.getDestterminalId()[0] : null);
                    e.put("text", p.getPktotal() > 1 || p.getTpudhi() != 0 ? null : p.getMsgContent());
                    e.put("result", submitResult);
                    emit(e);
                    CmppSubmitResponseMessage resp = new CmppSubmitResponseMessage(p.getHeader().getSequenceId());
                    resp.setMsgId(id);
                    resp.setResult(submitResult);
                    ctx.channel().writeAndFlush(resp);
                    if (reports && submitResult == 0 && p.getRegisteredDelivery() == 1) {
                        scheduleReport(ctx, p, id);
                    }
                }
                ctx.fireChannelRead(msg);
            }
        }

        Map<String, Object> partJson(CmppSubmitRequestMessage p) {
            Map<String, Object> pj = new LinkedHashMap<>();
            pj.put("seq", p.getHeader().getSequenceId());
            pj.put("pk_total", (int) p.getPktotal());
            pj.put("pk_number", (int) p.getPknumber());
            pj.put("udhi", (int) p.getTpudhi());
            pj.put("fmt", p.getMsgfmt() == null ? null : (int) p.getMsgfmt().getValue());
            pj.put("registered_delivery", (int) p.getRegisteredDelivery());
            pj.put("content_hex", hex(p.getMsgContentBytes()));
            pj.put("msg_id", p.getMsgid() == null ? null : p.getMsgid().toString());
            return pj;
        }

        void scheduleReport(ChannelHandlerContext ctx, CmppSubmitRequestMessage p, MsgId id) {
            String dest = p.getDestterminalId().length > 0 ? p.getDestterminalId()[0] : "";
            String submitTime = stamp();
            CmppDeliverRequestMessage d = new CmppDeliverRequestMessage();
            d.setMsgId(new MsgId());
            d.setDestId(p.getSrcId());
            d.setServiceid(p.getServiceId());
            d.setSrcterminalId(dest);
            CmppReportRequestMessage report = new CmppReportRequestMessage();
            report.setMsgId(id);
            report.setStat(reportStat);
            report.setSubmitTime(submitTime);
            report.setDestterminalId(dest);
            report.setSmscSequence(gateSeq.getAndIncrement());
            d.setReportRequestMessage(report);
            Channel ch = ctx.channel();
            ctx.executor().schedule(() -> {
                report.setDoneTime(stamp());
                Map<String, Object> what = new LinkedHashMap<>();
                what.put("kind", "report");
                what.put("msg_id", id.toString());
                what.put("msg_id_hex", id.toHexString(true));
                what.put("stat", reportStat);
                what.put("dest", dest);
                pendingDelivers.put(d.getHeader().getSequenceId(), what);
                Map<String, Object> e = ev("report_sent");
                e.putAll(what);
                e.remove("kind");
                emit(e);
                ch.writeAndFlush(d);
            }, reportDelayMs, TimeUnit.MILLISECONDS);
        }

        /** Logs each CONNECT and the status the server answered it with. */
        final class SpyServerEntity extends CMPPServerEndpointEntity {
            @Override
            protected CMPPServerEndpointConnector buildConnector() {
                return new CMPPServerEndpointConnector(this) {
                    @Override
                    protected void doinitPipeLine(ChannelPipeline pipeline) {
                        super.doinitPipeLine(pipeline);
                        pipeline.addBefore(GlobalConstance.sessionLoginManager, "ternConnectSpy", new ServerConnectSpy());
                    }
                };
            }
        }

        final class ServerConnectSpy extends ChannelDuplexHandler {
            volatile CmppConnectRequestMessage req;

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
                if (msg instanceof CmppConnectRequestMessage) {
                    req = (CmppConnectRequestMessage) msg;
                }
                ctx.fireChannelRead(msg);
            }

            @Override
            public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) throws Exception {
                if (msg instanceof CmppConnectResponseMessage) {
                    CmppConnectResponseMessage r = (CmppConnectResponseMessage) msg;
                    CmppConnectRequestMessage q = req;
                    emit("connect",
                            "source_addr", q == null ? null : q.getSourceAddr(),
                            "client_version", q == null ? null : String.format("0x%02x", q.getVersion()),
                            "timestamp", q == null ? null : q.getTimestamp(),
                            "status", r.getStatus(),
                            "remote", String.valueOf(ctx.channel().remoteAddress()));
                }
                ctx.write(msg, promise);
            }
        }

        @Sharable
        final class ServerHandler extends AbstractBusinessHandler {
            @Override
            public String name() {
                return "TernInteropServerHandler";
            }

            @Override
            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
                if (evt == SessionState.Connect) {
                    emit("session_up", "remote", String.valueOf(ctx.channel().remoteAddress()));
                }
                ctx.fireUserEventTriggered(evt);
            }

            @Override
            public void channelInactive(ChannelHandlerContext ctx) throws Exception {
                emit("session_down", "remote", String.valueOf(ctx.channel().remoteAddress()));
                ctx.fireChannelInactive();
            }

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
                if (msg instanceof CmppSubmitRequestMessage) {
                    onSubmit(ctx, (CmppSubmitRequestMessage) msg);
                } else if (msg instanceof CmppDeliverRequestMessage) {
                    // a client should not send DELIVER; answer it anyway
                    CmppDeliverRequestMessage d = (CmppDeliverRequestMessage) msg;
                    CmppDeliverResponseMessage r = new CmppDeliverResponseMessage(d.getHeader().getSequenceId());
                    r.setMsgId(d.getMsgId());
                    r.setResult(0);
                    ctx.channel().writeAndFlush(r);
                    emit("unexpected_deliver", "text", d.getMsgContent());
                } else if (msg instanceof CmppDeliverResponseMessage) {
                    CmppDeliverResponseMessage r = (CmppDeliverResponseMessage) msg;
                    Map<String, Object> what = pendingDelivers.remove(r.getHeader().getSequenceId());
                    Map<String, Object> e = ev(what != null && "report".equals(what.get("kind")) ? "report_acked" : "deliver_acked");
                    if (what != null) e.putAll(what);
                    e.remove("kind");
                    e.put("result", r.getResult());
                    e.put("resp_msg_id", r.getMsgId() == null ? null : r.getMsgId().toString());
                    emit(e);
                }
                ctx.fireChannelRead(msg);
            }

            void onSubmit(ChannelHandlerContext ctx, CmppSubmitRequestMessage full) {
                // SMSGate hands up a long message once all its parts are in (each was answered
                // on arrival by SubmitResponder): the first part to arrive carries the merged
                // text, the others are its fragments.
                List<CmppSubmitRequestMessage> parts = new ArrayList<>();
                parts.add(full);
                if (full.getFragments() != null) parts.addAll(full.getFragments());
                parts.sort(Comparator.comparingInt(CmppSubmitRequestMessage::getPknumber));
                List<Map<String, Object>> partList = new ArrayList<>();
                List<String> ids = new ArrayList<>();
                for (CmppSubmitRequestMessage p : parts) {
                    Map<String, Object> pj = partJson(p);
                    partList.add(pj);
                    ids.add((String) pj.get("msg_id"));
                }
                Map<String, Object> e = ev("submit");
                e.put("src", full.getSrcId());
                e.put("dest", full.getDestterminalId().length == 1 ? full.getDestterminalId()[0] : null);
                e.put("dests", Arrays.asList(full.getDestterminalId()));
                e.put("msg_src", full.getMsgsrc());
                e.put("service_id", full.getServiceId());
                e.put("text", full.getMsgContent());
                e.put("fmt", full.getMsgfmt() == null ? null : (int) full.getMsgfmt().getValue());
                e.put("pk_total", parts.size());
                e.put("registered_delivery", (int) full.getRegisteredDelivery());
                e.put("fee_user_type", (int) full.getFeeUserType());
                e.put("link_id", full.getLinkID());
                e.put("result", submitResult);
                e.put("msg_ids", ids);
                e.put("parts", partList);
                emit(e);
            }
        }
    }

    // ------------------------------------------------------------------ client

    static final String DEFAULT_TEXT = "Hello from SMSGate {i}";
    static final String DEFAULT_UCS2 = "你好，Tern！CMPP 网关测试 {i}";
    static final String DEFAULT_LONG = "SMSGate long message {i}: this text is longer than one CMPP "
            + "submit can carry, so SMSGate splits it into parts with a user data header (UDHI=1, "
            + "05 00 03 ref total seq) and every part gets its own Msg_Id and status report. The end.";
    static final String DEFAULT_LONG_UCS2 = "长短信测试 {i}：这是一条很长的中文短信，用来检查网关是否能够正确地拆分和重组"
            + "超过七十个字符的消息。每一个分段都有自己的消息编号和状态报告，最后由接收方按照用户数据头重新拼接成完整的内容。谢谢！";

    static final class Client {
        final Args a;
        final short version;
        final long timeoutMs;
        final CountDownLatch connected = new CountDownLatch(1);
        final CountDownLatch refused = new CountDownLatch(1);
        volatile long connectStatus = -1;
        final Set<String> wantedReports = ConcurrentHashMap.newKeySet();
        final Set<String> gotReports = ConcurrentHashMap.newKeySet();
        final Object lock = new Object();

        Client(Args a) {
            this.a = a;
            this.version = version(a);
            this.timeoutMs = a.num("timeout-s", 30) * 1000;
        }

        int run() throws Exception {
            long deadline = System.currentTimeMillis() + timeoutMs;
            String user = a.req("user");
            int count = (int) a.num("count", 1);
            boolean ucs2 = a.flag("ucs2");
            boolean report = a.flag("report");
            String text = a.str("text", a.flag("long") ? (ucs2 ? DEFAULT_LONG_UCS2 : DEFAULT_LONG)
                    : (ucs2 ? DEFAULT_UCS2 : DEFAULT_TEXT));
            String dest = a.str("dest", "13800138000");
            String srcId = a.str("src-id", "10658762");

            CMPPClientEndpointEntity client = new SpyClientEntity();
            client.setId("client");
            client.setHost(a.req("host"));
            client.setPort((int) a.num("port", -1));
            client.setChartset(StandardCharsets.UTF_8);
            client.setGroupName("tern-interop");
            client.setUserName(user);
            client.setPassword(a.req("password"));
            client.setMsgSrc(a.str("msg-src", user));
            client.setSpCode(srcId);
            client.setServiceId(a.str("service-id", "TERN"));
            client.setVersion(version);
            client.setMaxChannels((short) 1);
            client.setWindow(16);
            client.setRetryWaitTimeSec((short) 10);
            client.setMaxRetryCnt((short) 1);
            client.setReSendFailMsg(false);
            client.setIdleTimeSec((short) 30);
            List<BusinessHandlerInterface> handlers = new ArrayList<>();
            handlers.add(new ClientHandler());
            client.setBusinessHandlerSet(handlers);

            EndpointManager.INS.addEndpointEntity(client);
            ChannelFuture f = client.getSingletonConnector().open();
            if (f == null || !f.await(Math.max(1, deadline - System.currentTimeMillis())) || !f.isSuccess()) {
                emit("done", "submitted", 0, "ok", 0, "reports", 0, "error",
                        "TCP connect failed: " + (f == null ? "no future" : String.valueOf(f.cause())));
                return 2;
            }
            while (connected.getCount() > 0 && refused.getCount() > 0 && System.currentTimeMillis() < deadline) {
                connected.await(50, TimeUnit.MILLISECONDS);
            }
            if (connected.getCount() > 0) {
                if (connectStatus > 0) {
                    emit("done", "submitted", 0, "ok", 0, "reports", 0, "connect_status", connectStatus,
                            "error", "CONNECT refused with status " + connectStatus);
                    return 3;
                }
                emit("done", "submitted", 0, "ok", 0, "reports", 0, "timeout", true,
                        "error", "no CONNECT_RESP");
                return 1;
            }

            int submitted = 0, ok = 0, parts = 0;
            boolean timedOut = false;
            List<Map<String, Object>> sentSummaries = new ArrayList<>();
            for (int i = 1; i <= count; i++) {
                String t = text.replace("{i}", String.valueOf(i));
                CmppSubmitRequestMessage m = CmppSubmitRequestMessage.create(dest, srcId, t);
                if (ucs2) {
                    m.setMsgContent(new SmsTextMessage(t, SmsDcs.getGeneralDataCodingDcs(SmsAlphabet.UCS2, SmsMsgClass.CLASS_UNKNOWN)));
                }
                m.setRegisteredDelivery((short) (report ? 1 : 0));
                m.setServiceId(a.str("service-id", "TERN"));
                m.setMsgsrc(a.str("msg-src", user));
                m.setFeeUserType((short) 2);
                List<Promise<BaseMessage>> ps = ChannelUtil.syncWriteLongMsgToEntity(client, m);
                if (ps == null) {
                    emit("error", "error", "submit " + i + ": not connected");
                    break;
                }
                submitted++;
                emit("submit", "n", i, "text", t, "parts", ps.size(), "dest", dest, "src", srcId);
                int partNo = 0;
                for (Promise<BaseMessage> p : ps) {
                    partNo++;
                    parts++;
                    long left = deadline - System.currentTimeMillis();
                    if (left <= 0 || !p.await(left)) {
                        timedOut = true;
                        emit("submit_resp_timeout", "n", i, "part", partNo);
                        continue;
                    }
                    if (!p.isSuccess()) {
                        emit("submit_failed", "n", i, "part", partNo, "error", String.valueOf(p.cause()));
                        continue;
                    }
                    BaseMessage r = p.getNow();
                    if (r instanceof CmppSubmitResponseMessage) {
                        CmppSubmitResponseMessage sr = (CmppSubmitResponseMessage) r;
                        Map<String, Object> e = ev("submit_resp", "n", i, "part", partNo, "parts", ps.size(),
                                "seq", sr.getHeader().getSequenceId(), "result", sr.getResult());
                        e.putAll(msgIdJson(sr.getMsgId()));
                        emit(e);
                        if (sr.getResult() == 0) {
                            ok++;
                            if (report) {
                                String id = sr.getMsgId().toString();
                                synchronized (lock) {
                                    if (!gotReports.contains(id)) wantedReports.add(id);
                                }
                            }
                        }
                    } else {
                        emit("submit_resp_unexpected", "n", i, "part", partNo, "msg", String.valueOf(r));
                    }
                }
            }

            if (report) {
                while (System.currentTimeMillis() < deadline) {
                    synchronized (lock) {
                        if (wantedReports.isEmpty()) break;
                    }
                    Thread.sleep(20);
                }
            }
            long linger = a.num("linger-ms", 0);
            if (linger > 0) Thread.sleep(Math.min(linger, Math.max(0, deadline - System.currentTimeMillis())));
            int reports;
            boolean missing;
            synchronized (lock) {
                reports = gotReports.size();
                missing = report && !wantedReports.isEmpty();
            }
            Map<String, Object> done = ev("done", "submitted", submitted, "parts", parts, "ok", ok, "reports", reports);
            if (timedOut || missing) done.put("timeout", true);
            if (missing) done.put("missing_reports", new ArrayList<>(wantedReports));
            emit(done);
            if (timedOut || missing) return 1;
            return submitted == count && ok == parts ? 0 : 4;
        }

        /** Logs the CONNECT_RESP status, refused ones too (SMSGate only logs and closes). */
        final class SpyClientEntity extends CMPPClientEndpointEntity {
            @Override
            protected CMPPClientEndpointConnector buildConnector() {
                return new CMPPClientEndpointConnector(this) {
                    @Override
                    protected void doBindHandler(ChannelPipeline pipe, EndpointEntity entity) {
                        super.doBindHandler(pipe, entity);
                        pipe.addBefore("CMPPDeliverLongMessageHandler", "ternDeliverResponder", new DeliverResponder());
                    }

                    @Override
                    protected void doinitPipeLine(ChannelPipeline pipeline) {
                        super.doinitPipeLine(pipeline);
                        pipeline.addBefore(GlobalConstance.sessionLoginManager, "ternConnectSpy", new ChannelDuplexHandler() {
                            @Override
                            public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
                                if (msg instanceof CmppConnectResponseMessage) {
                                    CmppConnectResponseMessage r = (CmppConnectResponseMessage) msg;
                                    connectStatus = r.getStatus();
                                    emit("connect_resp", "status", r.getStatus(),
                                            "version", String.format("0x%02x", r.getVersion()));
                                    if (r.getStatus() != 0) refused.countDown();
                                }
                                ctx.fireChannelRead(msg);
                            }

                            @Override
                            public void channelInactive(ChannelHandlerContext ctx) throws Exception {
                                emit("closed");
                                refused.countDown();
                                ctx.fireChannelInactive();
                            }
                        });
                    }
                };
            }
        }

        /**
         * Answers every DELIVER as it arrives (before SMSGate's long-message handler holds MO
         * parts back until the whole message is in) and records the status reports.
         */
        @Sharable
        final class DeliverResponder extends ChannelInboundHandlerAdapter {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
                if (msg instanceof CmppDeliverRequestMessage) {
                    CmppDeliverRequestMessage d = (CmppDeliverRequestMessage) msg;
                    CmppDeliverResponseMessage r = new CmppDeliverResponseMessage(d.getHeader().getSequenceId());
                    r.setMsgId(d.getMsgId());
                    r.setResult(0);
                    ctx.channel().writeAndFlush(r);
                    if (d.isReport()) {
                        CmppReportRequestMessage rep = d.getReportRequestMessage();
                        String id = rep.getMsgId().toString();
                        synchronized (lock) {
                            gotReports.add(id);
                            wantedReports.remove(id);
                        }
                        Map<String, Object> e = ev("report");
                        e.putAll(msgIdJson(rep.getMsgId()));
                        e.put("stat", rep.getStat());
                        e.put("submit_time", rep.getSubmitTime());
                        e.put("done_time", rep.getDoneTime());
                        e.put("dest", rep.getDestterminalId());
                        e.put("src_terminal", d.getSrcterminalId());
                        e.put("dest_id", d.getDestId());
                        emit(e);
                    } else {
                        emit("mo_part", "src", d.getSrcterminalId(), "dest", d.getDestId(),
                                "udhi", (int) d.getTpudhi(), "content_hex", hex(d.getMsgContentBytes()));
                    }
                }
                ctx.fireChannelRead(msg);
            }
        }

        @Sharable
        final class ClientHandler extends AbstractBusinessHandler {
            @Override
            public String name() {
                return "TernInteropClientHandler";
            }

            @Override
            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
                if (evt == SessionState.Connect) {
                    emit("connected", "version", String.format("0x%02x", version));
                    connected.countDown();
                }
                ctx.fireUserEventTriggered(evt);
            }

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
                // MO messages, merged by SMSGate when long; reports were handled on arrival
                if (msg instanceof CmppDeliverRequestMessage && !((CmppDeliverRequestMessage) msg).isReport()) {
                    CmppDeliverRequestMessage d = (CmppDeliverRequestMessage) msg;
                    int parts = 1 + (d.getFragments() == null ? 0 : d.getFragments().size());
                    emit("mo", "src", d.getSrcterminalId(), "dest", d.getDestId(), "text", d.getMsgContent(),
                            "fmt", d.getMsgfmt() == null ? null : (int) d.getMsgfmt().getValue(),
                            "parts", parts, "service_id", d.getServiceid());
                }
                ctx.fireChannelRead(msg);
            }
        }
    }
}
