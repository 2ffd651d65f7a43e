package tern.interop;

import static tern.interop.CnPeer.TIMER;
import static tern.interop.CnPeer.await;
import static tern.interop.CnPeer.concat;
import static tern.interop.CnPeer.emit;
import static tern.interop.CnPeer.ev;
import static tern.interop.CnPeer.hex;
import static tern.interop.CnPeer.now;
import static tern.interop.CnPeer.partNo;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import com.chinamobile.cmos.sms.SMGPSmsDcs;
import com.chinamobile.cmos.sms.SmsAlphabet;
import com.chinamobile.cmos.sms.SmsMsgClass;
import com.chinamobile.cmos.sms.SmsTextMessage;
import com.zx.sms.BaseMessage;
import com.zx.sms.codec.smgp.msg.MsgId;
import com.zx.sms.codec.smgp.msg.SMGPDeliverMessage;
import com.zx.sms.codec.smgp.msg.SMGPDeliverRespMessage;
import com.zx.sms.codec.smgp.msg.SMGPExitMessage;
import com.zx.sms.codec.smgp.msg.SMGPLoginMessage;
import com.zx.sms.codec.smgp.msg.SMGPLoginRespMessage;
import com.zx.sms.codec.smgp.msg.SMGPReportData;
import com.zx.sms.codec.smgp.msg.SMGPSubmitMessage;
import com.zx.sms.codec.smgp.msg.SMGPSubmitRespMessage;
import com.zx.sms.common.GlobalConstance;
import com.zx.sms.common.util.ChannelUtil;
import com.zx.sms.connect.manager.EndpointEntity;
import com.zx.sms.connect.manager.EndpointEntity.ChannelType;
import com.zx.sms.connect.manager.EndpointManager;
import com.zx.sms.connect.manager.smgp.SMGPClientEndpointConnector;
import com.zx.sms.connect.manager.smgp.SMGPClientEndpointEntity;
import com.zx.sms.connect.manager.smgp.SMGPServerChildEndpointConnector;
import com.zx.sms.connect.manager.smgp.SMGPServerChildEndpointEntity;
import com.zx.sms.connect.manager.smgp.SMGPServerEndpointConnector;
import com.zx.sms.connect.manager.smgp.SMGPServerEndpointEntity;
import com.zx.sms.handler.api.AbstractBusinessHandler;
import com.zx.sms.handler.api.BusinessHandlerInterface;
import com.zx.sms.session.AbstractSessionStateManager;
import com.zx.sms.session.cmpp.SessionState;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
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
 * An SMGP 3.0 peer built on SMSGate (com.chinamobile.cmos:sms-core), for Tern's interop
 * tests. Two modes:
 *
 *   server: an operator's gateway (SMGW). Accepts a Login for one account (ClientID and
 *           shared secret, any of the login modes given), answers every Submit part on
 *           arrival with a fresh MsgID, prints each whole message once SMSGate has
 *           reassembled it, and sends a status report Deliver per part after a delay, on a
 *           connection of the account that may receive (login mode 2 or 1). Can send MOs.
 *   client: an SP. Logs in (login mode 2 by default), submits --count messages (long ones
 *           split by SMSGate), waits for the Submit_Resps and, with --report, the status
 *           reports; answers every Deliver.
 *
 * Every event is one JSON line on stdout; SMSGate's own log goes to stderr.
 */
public final class SmgpPeer {
    private SmgpPeer() {
    }

    static final String USAGE = String.join("\n",
            "usage:",
            "  smgp-peer server --port P --user CLIENTID --password SECRET",
            "                  [--host 127.0.0.1] [--version 0x30] [--login-modes 0,1,2] [--gateway-id 100001]",
            "                  [--max-channels 8] [--idle-s 30] [--submit-status 0] [--no-reports]",
            "                  [--report-delay-ms 50] [--report-stat DELIVRD] [--report-err 000]",
            "                  [--mo-every-ms N [--mo-count N] --mo-src MOBILE --mo-dest SPNUMBER --mo-text T]",
            "     stdin control lines: 'mo MOBILE SPNUMBER TEXT...'",
            "  smgp-peer client --host H --port P --user CLIENTID --password SECRET",
            "                  [--version 0x30] [--login-mode 2] [--count 1] [--text T] [--long] [--ucs2]",
            "                  [--report] [--dest 13800138000] [--src 10658762] [--service-id TERN]",
            "                  [--idle-s 30] [--expect-mo 0] [--timeout-s 30] [--linger-ms 0]",
            "     a {i} in --text is replaced by the message number (1-based)");

    public static void main(String[] argv) {
        CnPeer.main(USAGE, argv,
                Map.of("server", a -> new Server(a).run(), "client", a -> new Client(a).run()),
                Map.of("server", Set.of("no-reports"), "client", Set.of("long", "ucs2", "report")));
    }

    /** SMGP 3.0 LoginMode: 0 send (MT), 1 receive (MO and reports), 2 both. */
    static ChannelType channelType(long loginMode) {
        switch ((int) loginMode) {
            case 0: return ChannelType.DOWN;
            case 1: return ChannelType.UP;
            case 2: return ChannelType.DUPLEX;
            default: throw new IllegalArgumentException("a login mode is 0, 1 or 2, not " + loginMode);
        }
    }

    static byte version(CnPeer.Args a) {
        long v = a.num("version", 0x30);
        if (v != 0x30 && v != 0x13) throw new IllegalArgumentException("--version must be 0x30 or 0x13");
        return (byte) v;
    }

    static List<BusinessHandlerInterface> handlers(BusinessHandlerInterface h) {
        List<BusinessHandlerInterface> l = new ArrayList<>();
        l.add(h);
        return l;
    }

    static String id(MsgId id) {
        return id == null ? null : id.toString();
    }

    // ------------------------------------------------------------------ server (the gateway)

    static final class Server {
        final CnPeer.Args a;
        final String user;
        final int gatewayId;
        final long reportDelayMs;
        final String reportStat;
        final String reportErr;
        final int submitStatus;
        final boolean reports;
        final Map<ChannelType, SMGPServerChildEndpointEntity> children = new EnumMap<>(ChannelType.class);
        /** Each Submit's octets as they came, by channel and sequence number, until it is printed. */
        final Map<String, String> raw = new ConcurrentHashMap<>();
        /** The MsgID given to each Submit part, by sequence number, until its message is printed. */
        final Map<Integer, String> ids = new ConcurrentHashMap<>();
        CnPeer.MoTimer moTimer;

        Server(CnPeer.Args a) {
            this.a = a;
            this.user = a.req("user");
            this.gatewayId = (int) a.num("gateway-id", 100001);
            this.reportDelayMs = a.num("report-delay-ms", 50);
            this.reportStat = a.str("report-stat", "DELIVRD");
            this.reportErr = a.str("report-err", "000");
            this.submitStatus = (int) a.num("submit-status", 0);
            this.reports = !a.flag("no-reports");
        }

        int run() throws Exception {
            String host = a.str("host", "127.0.0.1");
            int port = (int) a.num("port", -1);
            if (port < 0) throw new IllegalArgumentException("--port is required");
            String password = a.req("password");
            byte version = version(a);

            SMGPServerEndpointEntity server = new SMGPServerEndpointEntity() {
                @Override
                public EndpointEntity getChild(String userName, ChannelType chType) {
                    // sms-core 2.1.13.5 throws here for an unknown ClientID and closes without a
                    // Login_Resp; its later versions refuse the Login with status 3, as this does
                    Map<ChannelType, SMGPServerChildEndpointEntity> none = Map.of();
                    return userName.equals(user) ? children.get(chType) : none.get(chType);
                }

                @Override
                protected SMGPServerEndpointConnector buildConnector() {
                    return new SMGPServerEndpointConnector(this) {
                        @Override
                        protected void doinitPipeLine(ChannelPipeline pipeline) {
                            super.doinitPipeLine(pipeline);
                            pipeline.addBefore(GlobalConstance.sessionLoginManager, "ternLoginSpy", new LoginSpy());
                        }
                    };
                }
            };
            server.setId("smgw");
            server.setHost(host);
            server.setPort(port);
            server.setValid(true);
            server.setUseSSL(false);

            List<Integer> modes = new ArrayList<>();
            for (String m : a.str("login-modes", "0,1,2").split(",")) modes.add(Integer.parseInt(m.trim()));
            for (int mode : modes) {
                SMGPServerChildEndpointEntity c = new SMGPServerChildEndpointEntity() {
                    @Override
                    protected SMGPServerChildEndpointConnector buildConnector() {
                        return new SMGPServerChildEndpointConnector(this) {
                            @Override
                            protected void doBindHandler(ChannelPipeline pipe, EndpointEntity entity) {
                                super.doBindHandler(pipe, entity);
                                pipe.addAfter("FrameDecoder", "ternRawSpy", new RawSpy());
                                pipe.addBefore("SMGPSubmitLongMessageHandler", "ternSubmitResponder",
                                        new SubmitResponder());
                            }
                        };
                    }
                };
                c.setId("smgw-child-" + user + "-" + mode);
                c.setClientID(user);
                c.setPassword(password);
                c.setClientVersion(version);
                c.setChannelType(channelType(mode));
                c.setValid(true);
                c.setMaxChannels((short) a.num("max-channels", 8));
                c.setRetryWaitTimeSec((short) 30);
                c.setMaxRetryCnt((short) 3);
                c.setReSendFailMsg(false);
                c.setIdleTimeSec((short) a.num("idle-s", 30));
                // the parts of one long message may come over different connections of the account
                c.setRecvLongMsgOnMultiLink(true);
                c.setBusinessHandlerSet(handlers(new ServerHandler()));
                children.put(c.getChannelType(), c);
                server.addchild(c);
            }

            EndpointManager.INS.addEndpointEntity(server);
            ChannelFuture bound;
            try {
                bound = server.getSingletonConnector().open();
            } catch (Exception e) {
                emit("error", "error", "cannot listen on " + host + ":" + port + ": " + e);
                return 2;
            }
            int actual = ((InetSocketAddress) bound.channel().localAddress()).getPort();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> emit("exit")));
            emit("listening", "port", actual, "user", user, "version", String.format("0x%02x", version),
                    "login_modes", modes, "gateway_id", gatewayId);

            String moText = a.str("mo-text", "MO {i}");
            moTimer = new CnPeer.MoTimer(a.num("mo-every-ms", 0), a.num("mo-count", 0),
                    n -> sendMo(a.str("mo-src", "13800138000"), a.str("mo-dest", "10658762"),
                            moText.replace("{i}", String.valueOf(n))));
            CnPeer.controlLoop(p -> sendMo(p[0], p[1], p[2]));
            return 0;
        }

        /** The account's entity that may receive: login mode 1, else 2, when it has a connection. */
        EndpointEntity receiver() {
            for (ChannelType t : new ChannelType[] {ChannelType.UP, ChannelType.DUPLEX}) {
                SMGPServerChildEndpointEntity c = children.get(t);
                EndpointEntity live = c == null ? null : EndpointManager.INS.getEndpointEntity(c.getId());
                if (live != null && live.getSingletonConnector().getConnectionNum() > 0) return live;
            }
            return null;
        }

        /**
         * A report goes back on the connection its Submit came over when that one may
         * receive (login mode 2), else on another of the account's that may.
         */
        @SuppressWarnings({"unchecked", "rawtypes"})
        Promise<BaseMessage> toSp(SMGPDeliverMessage d, Channel submitChannel) throws Exception {
            if (submitChannel != null && submitChannel.isActive()) {
                EndpointEntity e = submitChannel.attr(GlobalConstance.entityPointKey).get();
                AbstractSessionStateManager s = submitChannel.attr(GlobalConstance.sessionKey).get();
                if (e != null && e.getChannelType() == ChannelType.DUPLEX && s != null) {
                    return (Promise<BaseMessage>) s.writeMessagesync(d);
                }
            }
            EndpointEntity r = receiver();
            if (r == null) return null;
            List<Promise<BaseMessage>> ps = ChannelUtil.syncWriteLongMsgToEntity(r, d);
            return ps == null || ps.isEmpty() ? null : ps.get(0);
        }

        void scheduleReport(Channel ch, SMGPSubmitMessage p, MsgId msgId) {
            String dest = p.getDestTermIdArray() != null && p.getDestTermIdArray().length > 0
                    ? p.getDestTermIdArray()[0] : "";
            String spNumber = p.getSrcTermId();
            String submitTime = now("yyMMddHHmm");
            TIMER.schedule(() -> sendReport(ch, msgId, dest, spNumber, submitTime, 1), reportDelayMs,
                    TimeUnit.MILLISECONDS);
        }

        void sendReport(Channel ch, MsgId msgId, String dest, String spNumber, String submitTime, int attempt) {
            SMGPDeliverMessage d = new SMGPDeliverMessage();
            d.setMsgId(new MsgId(gatewayId));
            d.setSrcTermId(dest);
            d.setDestTermId(spNumber);
            SMGPReportData r = new SMGPReportData();
            r.setMsgId(msgId);
            r.setSub("001");
            r.setDlvrd("001");
            r.setSubTime(submitTime);
            r.setDoneTime(now("yyMMddHHmm"));
            r.setStat(reportStat);
            r.setErr(reportErr);
            r.setTxt("");
            d.setReport(r);
            Promise<BaseMessage> p;
            try {
                p = toSp(d, ch);
            } catch (Exception e) {
                p = null;
                emit("error", "error", "report " + id(msgId) + ": " + e);
            }
            if (p == null) {
                if (attempt < 5) {
                    TIMER.schedule(() -> sendReport(ch, msgId, dest, spNumber, submitTime, attempt + 1), 500,
                            TimeUnit.MILLISECONDS);
                } else {
                    emit("report_failed", "msg_id", id(msgId), "error", "no connection of the account may receive");
                }
                return;
            }
            String reportBytes;
            try {
                reportBytes = hex(r.toBytes());
            } catch (Exception e) {
                reportBytes = null;
            }
            emit("report_sent", "msg_id", id(msgId), "stat", reportStat, "err", reportErr, "dest", dest,
                    "deliver_msg_id", id(d.getMsgId()), "report_hex", reportBytes);
            p.addListener(f -> {
                if (f.isSuccess() && f.getNow() instanceof SMGPDeliverRespMessage) {
                    emit("report_acked", "msg_id", id(msgId),
                            "status", ((SMGPDeliverRespMessage) f.getNow()).getStatus());
                } else {
                    emit("report_failed", "msg_id", id(msgId), "error",
                            String.valueOf(f.isSuccess() ? f.getNow() : f.cause()));
                }
            });
        }

        boolean sendMo(String mobile, String spNumber, String text) {
            SMGPDeliverMessage d = new SMGPDeliverMessage();
            d.setMsgId(new MsgId(gatewayId));
            d.setSrcTermId(mobile);
            d.setDestTermId(spNumber);
            d.setMsgContent(text);
            EndpointEntity r = receiver();
            List<Promise<BaseMessage>> ps;
            try {
                ps = r == null ? null : ChannelUtil.syncWriteLongMsgToEntity(r, d);
            } catch (Exception e) {
                emit("mo_failed", "error", String.valueOf(e));
                return false;
            }
            if (ps == null) {
                emit("mo_failed", "error", "no connection of the account may receive");
                return false;
            }
            emit("mo_sent", "src", mobile, "dest", spNumber, "text", text, "parts", ps.size());
            for (Promise<BaseMessage> p : ps) {
                p.addListener(f -> {
                    if (f.isSuccess() && f.getNow() instanceof SMGPDeliverRespMessage) {
                        emit("mo_acked", "status", ((SMGPDeliverRespMessage) f.getNow()).getStatus());
                    } else {
                        emit("mo_failed", "error", String.valueOf(f.isSuccess() ? f.getNow() : f.cause()));
                    }
                });
            }
            return true;
        }

        Map<String, Object> partJson(SMGPSubmitMessage p) {
            Map<String, Object> pj = new LinkedHashMap<>();
            pj.put("seq", p.getSequenceNo());
            pj.put("msg_id", ids.get(p.getSequenceNo()));
            pj.put("udhi", (int) p.getTpUdhi());
            // the Pk_Total and Pk_Number TLVs (0 when absent)
            pj.put("pk_total", (int) p.getPkTotal());
            pj.put("pk_number", (int) p.getPkNumber());
            pj.put("fmt", p.getMsgFmt() == null ? null : (int) p.getMsgFmt().getValue());
            pj.put("need_report", p.isNeedReport() ? 1 : 0);
            pj.put("content_hex", hex(p.getBMsgContent()));
            pj.put("concat", p.getTpUdhi() != 0 ? concat(p.getBMsgContent()) : null);
            return pj;
        }

        /** Keeps each Submit's octets, TLVs included, as they came off the wire. */
        final class RawSpy extends ChannelInboundHandlerAdapter {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
                if (msg instanceof ByteBuf) {
                    ByteBuf b = (ByteBuf) msg;
                    int at = b.readerIndex();
                    if (b.readableBytes() >= 12 && b.getInt(at + 4) == 0x00000002) {
                        raw.put(ctx.channel().id().asShortText() + ":" + b.getInt(at + 8), ByteBufUtil.hexDump(b));
                    }
                }
                ctx.fireChannelRead(msg);
            }
        }

        /**
         * Answers every Submit part as it arrives, before SMSGate's long-message handler
         * holds the parts back until the whole message is in.
         */
        @Sharable
        final class SubmitResponder extends ChannelInboundHandlerAdapter {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
                if (msg instanceof SMGPSubmitMessage) {
                    SMGPSubmitMessage p = (SMGPSubmitMessage) msg;
                    MsgId msgId = new MsgId(gatewayId);
                    ids.put(p.getSequenceNo(), id(msgId));
                    Map<String, Object> e = ev("submit_part");
                    e.putAll(partJson(p));
                    e.put("src", p.getSrcTermId());
                    e.put("dest", p.getDestTermIdArray().length > 0 ? p.getDestTermIdArray()[0] : null);
                    e.put("text", p.getTpUdhi() != 0 ? null : p.getMsgContent());
                    e.put("status", submitStatus);
                    e.put("pdu_hex", raw.remove(ctx.channel().id().asShortText() + ":" + p.getSequenceNo()));
                    emit(e);
                    SMGPSubmitRespMessage resp = new SMGPSubmitRespMessage();
                    resp.setSequenceNo(p.getSequenceNo());
                    resp.setMsgId(msgId);
                    resp.setStatus(submitStatus);
                    ctx.channel().writeAndFlush(resp);
                    if (reports && submitStatus == 0 && p.isNeedReport()) scheduleReport(ctx.channel(), p, msgId);
                }
                ctx.fireChannelRead(msg);
            }
        }

        /** Prints each Login and the status it got. */
        final class LoginSpy extends ChannelDuplexHandler {
            volatile SMGPLoginMessage req;

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
                if (msg instanceof SMGPLoginMessage) req = (SMGPLoginMessage) msg;
                ctx.fireChannelRead(msg);
            }

            @Override
            public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) throws Exception {
                if (msg instanceof SMGPLoginRespMessage) {
                    SMGPLoginMessage q = req;
                    SMGPLoginRespMessage r = (SMGPLoginRespMessage) msg;
                    emit("login",
                            "client_id", q == null ? null : q.getClientId(),
                            "login_mode", q == null ? null : (int) q.getLoginMode(),
                            "client_version", q == null ? null : String.format("0x%02x", q.getVersion()),
                            "timestamp", q == null ? null : String.format("%010d", q.getTimestamp()),
                            "status", r.getStatus(),
                            "server_version", String.format("0x%02x", r.getVersion()),
                            "remote", String.valueOf(ctx.channel().remoteAddress()));
                }
                ctx.write(msg, promise);
            }
        }

        @Sharable
        final class ServerHandler extends AbstractBusinessHandler {
            @Override
            public String name() {
                return "TernSmgpServerHandler";
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

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
                if (msg instanceof SMGPSubmitMessage) {
                    onSubmit((SMGPSubmitMessage) msg);
                } else if (msg instanceof SMGPDeliverMessage) {
                    // an SP does not send DELIVER; answer it anyway
                    SMGPDeliverMessage d = (SMGPDeliverMessage) msg;
                    SMGPDeliverRespMessage r = new SMGPDeliverRespMessage();
                    r.setSequenceNo(d.getSequenceNo());
                    r.setMsgId(d.getMsgId());
                    r.setStatus(0);
                    ctx.channel().writeAndFlush(r);
                    emit("unexpected_deliver", "text", d.getMsgContent());
                }
                ctx.fireChannelRead(msg);
            }

            void onSubmit(SMGPSubmitMessage full) {
                // the first part to arrive carries the merged text, the others are its fragments
                List<SMGPSubmitMessage> parts = new ArrayList<>();
                parts.add(full);
                if (full.getFragments() != null) parts.addAll(full.getFragments());
                parts.sort(Comparator.comparingInt(p -> partNo(p.getBMsgContent(), p.getTpUdhi())));
                List<Map<String, Object>> partList = new ArrayList<>();
                List<String> msgIds = new ArrayList<>();
                for (SMGPSubmitMessage p : parts) {
                    Map<String, Object> pj = partJson(p);
                    ids.remove(p.getSequenceNo());
                    partList.add(pj);
                    msgIds.add((String) pj.get("msg_id"));
                }
                Map<String, Object> e = ev("submit");
                String[] dests = full.getDestTermIdArray();
                e.put("src", full.getSrcTermId());
                e.put("dest", dests.length == 1 ? dests[0] : null);
                e.put("dests", Arrays.asList(dests));
                e.put("msg_type", (int) full.getMsgType());
                e.put("need_report", full.isNeedReport() ? 1 : 0);
                e.put("priority", (int) full.getPriority());
                e.put("service_id", full.getServiceId());
                e.put("fee_type", full.getFeeType());
                e.put("fee_code", full.getFeeCode());
                e.put("fixed_fee", full.getFixedFee());
                e.put("fmt", full.getMsgFmt() == null ? null : (int) full.getMsgFmt().getValue());
                e.put("valid_time", full.getValidTime());
                e.put("at_time", full.getAtTime());
                e.put("charge_term_id", full.getChargeTermId());
                e.put("tp_pid", (int) full.getTpPid());
                e.put("link_id", full.getLinkId());
                e.put("msg_src", full.getMsgSrc());
                e.put("text", full.getMsgContent());
                e.put("pk_total", parts.size());
                e.put("status", submitStatus);
                e.put("msg_ids", msgIds);
                e.put("parts", partList);
                emit(e);
            }
        }
    }

    // ------------------------------------------------------------------ client (an SP)

    static final String DEFAULT_TEXT = "Hello from SMSGate {i}";
    static final String DEFAULT_UCS2 = "你好，Tern！SMGP 网关测试 {i}";
    static final String DEFAULT_LONG = "SMSGate long message {i}: this text is longer than one SMGP "
            + "submit can carry, so SMSGate splits it into parts with a user data header (TP_udhi=1, "
            + "05 00 03 ref total seq) and every part gets its own MsgID and status report. The end.";
    static final String DEFAULT_LONG_UCS2 = "长短信测试 {i}：这是一条很长的中文短信，用来检查网关是否能够正确地拆分和重组"
            + "超过七十个字符的消息。每一个分段都有自己的消息编号和状态报告，最后由接收方按照用户数据头重新拼接成完整的内容。谢谢！";

    static final class Client {
        final CnPeer.Args a;
        final CnPeer.Tally tally = new CnPeer.Tally();
        final CountDownLatch connected = new CountDownLatch(1);
        final CountDownLatch refused = new CountDownLatch(1);
        volatile long loginStatus = -1;

        Client(CnPeer.Args a) {
            this.a = a;
        }

        int run() throws Exception {
            long deadline = System.currentTimeMillis() + a.num("timeout-s", 30) * 1000;
            String user = a.req("user");
            int count = (int) a.num("count", 1);
            int moWanted = (int) a.num("expect-mo", 0);
            boolean ucs2 = a.flag("ucs2");
            boolean report = a.flag("report");
            String text = a.str("text", a.flag("long") ? (ucs2 ? DEFAULT_LONG_UCS2 : DEFAULT_LONG)
                    : (ucs2 ? DEFAULT_UCS2 : DEFAULT_TEXT));
            String dest = a.str("dest", "13800138000");
            String src = a.str("src", "10658762");
            String serviceId = a.str("service-id", "TERN");

            SMGPClientEndpointEntity client = new SMGPClientEndpointEntity() {
                @Override
                protected SMGPClientEndpointConnector buildConnector() {
                    return new SMGPClientEndpointConnector(this) {
                        @Override
                        protected void doBindHandler(ChannelPipeline pipe, EndpointEntity entity) {
                            super.doBindHandler(pipe, entity);
                            pipe.addBefore("SMGPDeliverLongMessageHandler", "ternResponder", new Responder());
                        }

                        @Override
                        protected void doinitPipeLine(ChannelPipeline pipeline) {
                            super.doinitPipeLine(pipeline);
                            pipeline.addBefore(GlobalConstance.sessionLoginManager, "ternLoginSpy", new LoginSpy());
                        }
                    };
                }
            };
            client.setId("sp-client");
            client.setHost(a.req("host"));
            client.setPort((int) a.num("port", -1));
            client.setClientID(user);
            client.setPassword(a.req("password"));
            client.setClientVersion(version(a));
            client.setChannelType(channelType(a.num("login-mode", 2)));
            client.setValid(true);
            client.setUseSSL(false);
            client.setMaxChannels((short) 1);
            client.setWindow(16);
            client.setRetryWaitTimeSec((short) 10);
            client.setMaxRetryCnt((short) 1);
            client.setReSendFailMsg(false);
            client.setIdleTimeSec((short) a.num("idle-s", 30));
            client.setBusinessHandlerSet(handlers(new ClientHandler()));
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
                if (loginStatus > 0) {
                    emit("done", "submitted", 0, "ok", 0, "reports", 0, "login_status", loginStatus,
                            "error", "Login refused with status " + loginStatus);
                    return 3;
                }
                emit("done", "submitted", 0, "ok", 0, "reports", 0, "timeout", true, "error", "no Login_Resp");
                return 1;
            }

            for (int i = 1; i <= count; i++) {
                String t = text.replace("{i}", String.valueOf(i));
                SMGPSubmitMessage m = new SMGPSubmitMessage();
                m.setSrcTermId(src);
                m.setDestTermIdArray(dest);
                m.setServiceId(serviceId);
                m.setNeedReport(report);
                if (ucs2) {
                    m.setMsgContent(new SmsTextMessage(t,
                            SMGPSmsDcs.getGeneralDataCodingDcs(SmsAlphabet.UCS2, SmsMsgClass.CLASS_UNKNOWN)));
                } else {
                    m.setMsgContent(t);
                }
                List<Promise<BaseMessage>> ps = ChannelUtil.syncWriteLongMsgToEntity(client, m);
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
                    if (!(r instanceof SMGPSubmitRespMessage)) {
                        emit("submit_resp_unexpected", "n", i, "part", partNo, "msg", String.valueOf(r));
                        continue;
                    }
                    SMGPSubmitRespMessage sr = (SMGPSubmitRespMessage) r;
                    String msgId = id(sr.getMsgId());
                    emit("submit_resp", "n", i, "part", partNo, "parts", ps.size(), "seq", sr.getSequenceNo(),
                            "msg_id", msgId, "status", sr.getStatus());
                    if (sr.getStatus() == 0) {
                        tally.ok++;
                        if (report) tally.expectReport(msgId);
                    }
                }
            }

            tally.await(deadline, moWanted);
            long linger = a.num("linger-ms", 0);
            if (linger > 0) Thread.sleep(Math.min(linger, Math.max(0, deadline - System.currentTimeMillis())));
            exit(client, deadline);
            return tally.done(count, moWanted, null);
        }

        /** Exit, as an SP ends a session; waits at most 2 s for the Exit_Resp. */
        void exit(SMGPClientEndpointEntity client, long deadline) throws Exception {
            List<Promise<BaseMessage>> ps = ChannelUtil.syncWriteLongMsgToEntity(client, new SMGPExitMessage());
            if (ps == null || ps.isEmpty()) return;
            long until = Math.min(deadline, System.currentTimeMillis() + 2000);
            BaseMessage r = await(ps.get(0), until, Map.of("command", "exit"), null);
            emit("exit_resp", "ok", r != null);
        }

        /** Prints the Login_Resp, a refusal too (SMSGate only logs it and closes). */
        final class LoginSpy extends ChannelDuplexHandler {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
                if (msg instanceof SMGPLoginRespMessage) {
                    SMGPLoginRespMessage r = (SMGPLoginRespMessage) msg;
                    loginStatus = r.getStatus();
                    emit("login_resp", "status", r.getStatus(), "version", String.format("0x%02x", r.getVersion()),
                            "server_auth_hex", hex(r.getServerAuth()));
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
        }

        /**
         * Answers every Deliver as it arrives (before SMSGate's long-message handler holds
         * MO parts back until the whole message is in) and records the status reports.
         */
        @Sharable
        final class Responder extends ChannelInboundHandlerAdapter {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
                if (msg instanceof SMGPDeliverMessage) {
                    SMGPDeliverMessage d = (SMGPDeliverMessage) msg;
                    SMGPDeliverRespMessage r = new SMGPDeliverRespMessage();
                    r.setSequenceNo(d.getSequenceNo());
                    r.setMsgId(d.getMsgId());
                    r.setStatus(0);
                    ctx.channel().writeAndFlush(r);
                    if (d.isReport() && d.getReport() != null) {
                        SMGPReportData rep = d.getReport();
                        String msgId = id(rep.getMsgId());
                        if (msgId != null) tally.report(msgId);
                        Map<String, Object> e = ev("report", "msg_id", msgId, "stat", rep.getStat(), "err", rep.getErr(),
                                "sub", rep.getSub(), "dlvrd", rep.getDlvrd(), "submit_time", rep.getSubTime(),
                                "done_time", rep.getDoneTime(), "text", rep.getTxt());
                        e.put("src_term", d.getSrcTermId());
                        e.put("dest_term", d.getDestTermId());
                        e.put("deliver_msg_id", id(d.getMsgId()));
                        e.put("recv_time", d.getRecvTime());
                        emit(e);
                    } else {
                        emit("mo_part", "src", d.getSrcTermId(), "dest", d.getDestTermId(), "udhi", (int) d.getTpUdhi(),
                                "fmt", d.getMsgFmt() == null ? null : (int) d.getMsgFmt().getValue(),
                                "content_hex", hex(d.getBMsgContent()), "msg_id", id(d.getMsgId()));
                    }
                }
                ctx.fireChannelRead(msg);
            }
        }

        @Sharable
        final class ClientHandler extends AbstractBusinessHandler {
            @Override
            public String name() {
                return "TernSmgpClientHandler";
            }

            @Override
            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
                if (evt == SessionState.Connect) {
                    emit("connected", "login_mode", a.num("login-mode", 2));
                    connected.countDown();
                }
                ctx.fireUserEventTriggered(evt);
            }

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
                // MOs, merged by SMSGate when long; reports were handled on arrival
                if (msg instanceof SMGPDeliverMessage && !((SMGPDeliverMessage) msg).isReport()) {
                    SMGPDeliverMessage d = (SMGPDeliverMessage) msg;
                    int parts = 1 + (d.getFragments() == null ? 0 : d.getFragments().size());
                    tally.mo();
                    emit("mo", "src", d.getSrcTermId(), "dest", d.getDestTermId(), "text", d.getMsgContent(),
                            "fmt", d.getMsgFmt() == null ? null : (int) d.getMsgFmt().getValue(), "parts", parts);
                }
                ctx.fireChannelRead(msg);
            }
        }
    }
}
