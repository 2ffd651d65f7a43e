package tern.interop;

import static tern.interop.CnPeer.TIMER;
import static tern.interop.CnPeer.await;
import static tern.interop.CnPeer.concat;
import static tern.interop.CnPeer.emit;
import static tern.interop.CnPeer.ev;
import static tern.interop.CnPeer.hex;
import static tern.interop.CnPeer.now;
import static tern.interop.CnPeer.handlers;
import static tern.interop.CnPeer.partNo;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
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
import com.zx.sms.session.cmpp.SessionState;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
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
        final CnPeer.MoTimer moTimer;

        Server(CnPeer.Args a) {
            this.moTimer = CnPeer.moTimer(a, this::sendMo);
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

            return CnPeer.serve(server, this::sendMo, "user", user, "version", String.format("0x%02x", version),
                    "login_modes", modes, "gateway_id", gatewayId);
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
        List<Promise<BaseMessage>> toSp(SMGPDeliverMessage d, Channel submitChannel) throws Exception {
            List<Promise<BaseMessage>> ps = CnPeer.onChannel(submitChannel, d, ChannelType.DUPLEX);
            if (ps != null) return ps;
            EndpointEntity r = receiver();
            return r == null ? null : ChannelUtil.syncWriteLongMsgToEntity(r, d);
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
            List<Promise<BaseMessage>> ps;
            try {
                ps = toSp(d, ch);
            } catch (Exception e) {
                ps = null;
                emit("error", "error", "report " + id(msgId) + ": " + e);
            }
            if (ps == null || ps.isEmpty()) {
                CnPeer.retry(attempt, next -> sendReport(ch, msgId, dest, spNumber, submitTime, next), id(msgId),
                        "no connection of the account may receive");
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
            CnPeer.acks(ps, SMGPDeliverRespMessage.class, SMGPDeliverRespMessage::getStatus, "report_acked",
                    "report_failed", "msg_id", id(msgId));
        }

        boolean sendMo(String mobile, String spNumber, String text) {
            SMGPDeliverMessage d = new SMGPDeliverMessage();
            d.setMsgId(new MsgId(gatewayId));
            d.setSrcTermId(mobile);
            d.setDestTermId(spNumber);
            d.setMsgContent(text);
            List<Promise<BaseMessage>> ps;
            try {
                ps = toSp(d, null);
            } catch (Exception e) {
                emit("mo_failed", "error", String.valueOf(e));
                return false;
            }
            if (ps == null) {
                emit("mo_failed", "error", "no connection of the account may receive");
                return false;
            }
            emit("mo_sent", "src", mobile, "dest", spNumber, "text", text, "parts", ps.size());
            CnPeer.acks(ps, SMGPDeliverRespMessage.class, SMGPDeliverRespMessage::getStatus, "mo_acked", "mo_failed");
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
        final class ServerHandler extends CnPeer.ServerSessions {
            ServerHandler() {
                super(moTimer);
            }

            @Override
            public String name() {
                return "TernSmgpServerHandler";
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
                List<SMGPSubmitMessage> parts = CnPeer.parts(full, full.getFragments(),
                        p -> partNo(p.getBMsgContent(), p.getTpUdhi()));
                Object[] partsJson = CnPeer.partsJson(parts, Server.this::partJson);
                for (SMGPSubmitMessage p : parts) ids.remove(p.getSequenceNo());
                Map<String, Object> e = ev("submit");
                String[] dests = full.getDestTermIdArray();
                e.put("src", full.getSrcTermId());
                e.put("dest", dests.length == 1 ? dests[0] : null);
                e.put("dests", Arrays.asList(dests));
                e.put("msg_type", (int) full.getMsgType());
                e.put("need_report", full.isNeedReport() ? 1 : 0);
                // CMPP's name, as the CMPP peer prints it
                e.put("registered_delivery", full.isNeedReport() ? 1 : 0);
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
                e.put("status", submitStatus);
                emit(CnPeer.with(e, partsJson));
            }
        }
    }

    // ------------------------------------------------------------------ client (an SP)

    static final class Client {
        final CnPeer.Args a;
        final CnPeer.Tally tally = new CnPeer.Tally();
        final CnPeer.Login login = new CnPeer.Login("Login", "login_resp", "status", "login_status");

        Client(CnPeer.Args a) {
            this.a = a;
        }

        int run() throws Exception {
            long deadline = System.currentTimeMillis() + a.num("timeout-s", 30) * 1000;
            boolean ucs2 = a.flag("ucs2");
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
                            pipeline.addBefore(GlobalConstance.sessionLoginManager, "ternLoginSpy",
                                    login.spy(SMGPLoginRespMessage.class, SMGPLoginRespMessage::getStatus,
                                            r -> new Object[] {"version", String.format("0x%02x", r.getVersion()),
                                                "server_auth_hex", hex(r.getServerAuth())}));
                        }
                    };
                }
            };
            client.setId("sp-client");
            client.setHost(a.req("host"));
            client.setPort((int) a.num("port", -1));
            client.setClientID(a.req("user"));
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

            int rc = login.await(client.getSingletonConnector().open(), deadline);
            if (rc != 0) return rc;

            int count = (int) a.num("count", 1);
            boolean report = a.flag("report");
            CnPeer.submit(client, tally, deadline, count, CnPeer.text(a, "SMGP"), report, dest, src, t -> {
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
                return m;
            }, r -> {
                if (!(r instanceof SMGPSubmitRespMessage)) return null;
                SMGPSubmitRespMessage sr = (SMGPSubmitRespMessage) r;
                return new CnPeer.Resp(id(sr.getMsgId()), sr.getStatus(), "seq", sr.getSequenceNo(), "status",
                        sr.getStatus());
            });
            return CnPeer.finish(a, tally, deadline, count, client, new SMGPExitMessage(), "exit_resp");
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
                    login.up();
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
