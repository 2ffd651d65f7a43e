package tern.interop;

import static tern.interop.CnPeer.TIMER;
import static tern.interop.CnPeer.await;
import static tern.interop.CnPeer.concat;
import static tern.interop.CnPeer.emit;
import static tern.interop.CnPeer.ev;
import static tern.interop.CnPeer.hex;
import static tern.interop.CnPeer.handlers;
import static tern.interop.CnPeer.partNo;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import com.chinamobile.cmos.sms.SgipSmsDcs;
import com.chinamobile.cmos.sms.SmsAlphabet;
import com.chinamobile.cmos.sms.SmsMsgClass;
import com.chinamobile.cmos.sms.SmsTextMessage;
import com.zx.sms.BaseMessage;
import com.zx.sms.codec.sgip12.msg.SgipBindRequestMessage;
import com.zx.sms.codec.sgip12.msg.SgipBindResponseMessage;
import com.zx.sms.codec.sgip12.msg.SgipDefaultMessage;
import com.zx.sms.codec.sgip12.msg.SgipDeliverRequestMessage;
import com.zx.sms.codec.sgip12.msg.SgipDeliverResponseMessage;
import com.zx.sms.codec.sgip12.msg.SgipReportRequestMessage;
import com.zx.sms.codec.sgip12.msg.SgipReportResponseMessage;
import com.zx.sms.codec.sgip12.msg.SgipSubmitRequestMessage;
import com.zx.sms.codec.sgip12.msg.SgipSubmitResponseMessage;
import com.zx.sms.codec.sgip12.msg.SgipUnbindRequestMessage;
import com.zx.sms.common.GlobalConstance;
import com.zx.sms.common.util.ChannelUtil;
import com.zx.sms.common.util.SequenceNumber;
import com.zx.sms.connect.manager.EndpointConnector;
import com.zx.sms.connect.manager.EndpointEntity;
import com.zx.sms.connect.manager.EndpointEntity.ChannelType;
import com.zx.sms.connect.manager.EndpointManager;
import com.zx.sms.connect.manager.sgip.SgipClientEndpointConnector;
import com.zx.sms.connect.manager.sgip.SgipClientEndpointEntity;
import com.zx.sms.connect.manager.sgip.SgipEndpointEntity;
import com.zx.sms.connect.manager.sgip.SgipServerChildEndpointConnector;
import com.zx.sms.connect.manager.sgip.SgipServerChildEndpointEntity;
import com.zx.sms.connect.manager.sgip.SgipServerEndpointConnector;
import com.zx.sms.connect.manager.sgip.SgipServerEndpointEntity;
import com.zx.sms.handler.api.AbstractBusinessHandler;
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
 * An SGIP 1.2 peer built on SMSGate (com.chinamobile.cmos:sms-core), for Tern's interop
 * tests. SGIP carries commands one way per connection: the side with something to send
 * binds. Two modes:
 *
 *   server: the operator's SMG. Accepts Binds for one account, answers every Submit part on
 *           arrival (the Submit_Resp echoes the Submit's sequence number, which is the
 *           message's id), prints each whole message once SMSGate has reassembled it, and
 *           sends a Report per part after a delay. With --report-to the Reports (and MOs) go
 *           over a connection this SMG opens to the SP's listener with a Bind of login type 2,
 *           as SGIP 1.2 has it; without it they go back over the SP's own connection, as
 *           SMSGate's own SGIP example does.
 *   client: an SP. Binds with login type 1, submits --count messages (long ones split by
 *           SMSGate), waits for the Submit_Resps and, with --report, a Report per part.
 *           With --listen it first opens the SP's listener, where the SMG binds with login
 *           type 2 to send Reports and Delivers; both are also taken on its own connection.
 *
 * Every event is one JSON line on stdout; SMSGate's own log goes to stderr.
 */
public final class SgipPeer {
    private SgipPeer() {
    }

    static final String USAGE = String.join("\n",
            "usage:",
            "  sgip-peer server --port P --user LOGIN --password S",
            "                  [--host 127.0.0.1] [--node-id 110001] [--max-channels 8] [--idle-s 30]",
            "                  [--submit-result 0] [--no-reports] [--report-delay-ms 50]",
            "                  [--report-state 0] [--report-error 0]",
            "                  [--report-to HOST:PORT [--report-user LOGIN] [--report-password S]]",
            "                  [--mo-every-ms N [--mo-count N] --mo-src MOBILE --mo-dest SPNUMBER --mo-text T]",
            "     stdin control lines: 'mo MOBILE SPNUMBER TEXT...'",
            "  sgip-peer client --host H --port P --user LOGIN --password S",
            "                  [--node-id 3100012345] [--count 1] [--text T] [--long] [--ucs2] [--report]",
            "                  [--dest 13800138000] [--sp-number 10658762] [--corp-id 12345]",
            "                  [--service-type TERN] [--idle-s 30] [--expect-mo 0]",
            "                  [--listen PORT [--listen-host 127.0.0.1] [--listen-user LOGIN] [--listen-password S]]",
            "                  [--timeout-s 30] [--linger-ms 0]",
            "     a {i} in --text is replaced by the message number (1-based)");

    public static void main(String[] argv) {
        CnPeer.main(USAGE, argv,
                Map.of("server", a -> new Server(a).run(), "client", a -> new Client(a).run()),
                Map.of("server", Set.of("no-reports"), "client", Set.of("long", "ucs2", "report")));
    }

    /** The thirty-digit text form of a command's sequence number: node id, MMDDHHMMSS, counter. */
    static String seq(SgipDefaultMessage m) {
        return m.getSequenceNumber().toString();
    }

    static void common(SgipEndpointEntity e, String id, String login, String password, long nodeId, short idleS) {
        e.setId(id);
        e.setLoginName(login);
        e.setLoginPassowrd(password);
        e.setNodeId(nodeId);
        e.setValid(true);
        e.setUseSSL(false);
        e.setRetryWaitTimeSec((short) 30);
        e.setMaxRetryCnt((short) 3);
        e.setReSendFailMsg(false);
        // SGIP has no keep-alive: SMSGate closes a connection idle this long
        e.setIdleTimeSec(idleS);
    }

    /** A listener whose Binds, and the results they got, are printed as `event` lines. */
    static SgipServerEndpointEntity listener(String id, String host, int port, String event) {
        SgipServerEndpointEntity s = new SgipServerEndpointEntity() {
            @Override
            protected SgipServerEndpointConnector buildConnector() {
                return new SgipServerEndpointConnector(this) {
                    @Override
                    protected void doinitPipeLine(ChannelPipeline pipeline) {
                        super.doinitPipeLine(pipeline);
                        pipeline.addBefore(GlobalConstance.sessionLoginManager, "ternBindSpy", new BindSpy(event));
                    }
                };
            }
        };
        s.setId(id);
        s.setHost(host);
        s.setPort(port);
        s.setValid(true);
        s.setUseSSL(false);
        return s;
    }

    static final class BindSpy extends ChannelDuplexHandler {
        final String event;
        volatile SgipBindRequestMessage req;

        BindSpy(String event) {
            this.event = event;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
            if (msg instanceof SgipBindRequestMessage) req = (SgipBindRequestMessage) msg;
            ctx.fireChannelRead(msg);
        }

        @Override
        public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) throws Exception {
            if (msg instanceof SgipBindResponseMessage) {
                SgipBindRequestMessage q = req;
                emit(event,
                        "login_type", q == null ? null : (int) q.getLoginType(),
                        "login_name", q == null ? null : q.getLoginName(),
                        "node_id", q == null ? null : q.getHeader().getNodeId(),
                        "seq", q == null ? null : seq(q),
                        "result", (int) ((SgipBindResponseMessage) msg).getResult(),
                        "remote", String.valueOf(ctx.channel().remoteAddress()));
            }
            ctx.write(msg, promise);
        }
    }

    // ------------------------------------------------------------------ server (the SMG)

    static final class Server {
        final CnPeer.Args a;
        final String user;
        final long nodeId;
        final short idleS;
        final long reportDelayMs;
        final short reportState;
        final short reportError;
        final short submitResult;
        final boolean reports;
        SgipServerChildEndpointEntity child;
        /** The SMG's connection to the SP's listener (login type 2), when --report-to is given. */
        SgipClientEndpointEntity back;
        volatile boolean backConnecting;
        long backLastOpen;
        final CnPeer.MoTimer moTimer;

        Server(CnPeer.Args a) {
            this.moTimer = CnPeer.moTimer(a, this::sendMo);
            this.a = a;
            this.user = a.req("user");
            this.nodeId = a.num("node-id", 110001);
            this.idleS = (short) a.num("idle-s", 30);
            this.reportDelayMs = a.num("report-delay-ms", 50);
            this.reportState = (short) a.num("report-state", 0);
            this.reportError = (short) a.num("report-error", 0);
            this.submitResult = (short) a.num("submit-result", 0);
            this.reports = !a.flag("no-reports");
        }

        int run() throws Exception {
            String host = a.str("host", "127.0.0.1");
            int port = (int) a.num("port", -1);
            if (port < 0) throw new IllegalArgumentException("--port is required");
            String password = a.req("password");

            SgipServerEndpointEntity server = listener("smg", host, port, "bind");
            child = new SgipServerChildEndpointEntity() {
                @Override
                protected SgipServerChildEndpointConnector buildConnector() {
                    return new SgipServerChildEndpointConnector(this) {
                        @Override
                        protected void doBindHandler(ChannelPipeline pipe, EndpointEntity entity) {
                            super.doBindHandler(pipe, entity);
                            pipe.addBefore("SgipSubmitLongMessageHandler", "ternSubmitResponder", new SubmitResponder());
                        }
                    };
                }
            };
            common(child, "smg-child-" + user, user, password, nodeId, idleS);
            child.setChannelType(ChannelType.DUPLEX);
            child.setMaxChannels((short) a.num("max-channels", 8));
            // the parts of one long message may come over different connections of the account
            child.setRecvLongMsgOnMultiLink(true);
            child.setBusinessHandlerSet(handlers(new ServerHandler()));
            server.addchild(child);

            Object[] reportTo = a.hostPort("report-to");
            if (reportTo != null) {
                back = new SgipClientEndpointEntity() {
                    @Override
                    protected SgipClientEndpointConnector buildConnector() {
                        return new SgipClientEndpointConnector(this) {
                            @Override
                            protected void doinitPipeLine(ChannelPipeline pipeline) {
                                super.doinitPipeLine(pipeline);
                                pipeline.addBefore(GlobalConstance.sessionLoginManager, "ternBackSpy", new BackSpy());
                            }
                        };
                    }
                };
                common(back, "smg-to-sp", a.str("report-user", user), a.str("report-password", password), nodeId,
                        idleS);
                back.setHost((String) reportTo[0]);
                back.setPort((Integer) reportTo[1]);
                // SMSGate binds with login type 2 (SMG to SP) for a client of channel type UP
                back.setChannelType(ChannelType.UP);
                back.setMaxChannels((short) 1);
                back.setBusinessHandlerSet(handlers(new BackHandler()));
                EndpointManager.INS.addEndpointEntity(back);
            }

            return CnPeer.serve(server, this::sendMo, "user", user, "node_id", nodeId, "reports_via", via(),
                    "report_to", back == null ? null : back.getHost() + ":" + back.getPort());
        }

        /** SGIP 1.2 ReportFlag: 1 always, 3 (monthly fee only) always, 0 only when it failed. */
        boolean wantsReport(short flag) {
            return flag == 1 || flag == 3 || (flag == 0 && reportState == 2);
        }

        /**
         * Connects to the SP's listener when no connection is up, and waits up to 5 s for
         * the Bind to succeed. One open at a time, at most one every 500 ms.
         */
        synchronized boolean ensureBack() throws InterruptedException {
            EndpointConnector<?> c = back.getSingletonConnector();
            long until = System.currentTimeMillis() + 5000;
            while (System.currentTimeMillis() < until) {
                if (c.getConnectionNum() > 0) return true;
                long now = System.currentTimeMillis();
                if (!backConnecting && now - backLastOpen >= 500) {
                    backConnecting = true;
                    backLastOpen = now;
                    try {
                        ChannelFuture f = c.open();
                        if (f == null) {
                            backConnecting = false;
                        } else {
                            f.addListener(x -> {
                                if (!x.isSuccess()) {
                                    backConnecting = false;
                                    emit("back_connect_failed", "error", String.valueOf(x.cause()));
                                }
                            });
                        }
                    } catch (Exception e) {
                        backConnecting = false;
                        emit("back_connect_failed", "error", String.valueOf(e));
                    }
                }
                Thread.sleep(20);
            }
            return c.getConnectionNum() > 0;
        }

        /** Sends a request towards the SP: over the SMG's own connection, or the SP's. */
        List<Promise<BaseMessage>> toSp(BaseMessage m, Channel submitChannel) throws Exception {
            if (back != null) {
                if (!ensureBack()) return null;
                return ChannelUtil.syncWriteLongMsgToEntity(back, m);
            }
            List<Promise<BaseMessage>> ps = CnPeer.onChannel(submitChannel, m, null);
            return ps != null ? ps : ChannelUtil.syncWriteLongMsgToEntity(child, m);
        }

        String via() {
            return back == null ? "same-connection" : "connect-back";
        }

        void scheduleReport(Channel ch, SgipSubmitRequestMessage p) {
            String dest = p.getUsernumber() != null && p.getUsernumber().length > 0 ? p.getUsernumber()[0] : "";
            SequenceNumber submitSeq = p.getSequenceNumber();
            TIMER.schedule(() -> sendReport(ch, submitSeq, dest, 1), reportDelayMs, TimeUnit.MILLISECONDS);
        }

        void sendReport(Channel ch, SequenceNumber submitSeq, String dest, int attempt) {
            String id = submitSeq.toString();
            SgipReportRequestMessage r = new SgipReportRequestMessage();
            r.setSequenceId(submitSeq);
            r.setReporttype((short) 0);
            r.setUsernumber(dest);
            r.setState(reportState);
            r.setErrorcode(reportError);
            List<Promise<BaseMessage>> ps;
            try {
                ps = toSp(r, ch);
            } catch (Exception e) {
                ps = null;
                emit("error", "error", "report " + id + ": " + e);
            }
            if (ps == null || ps.isEmpty()) {
                CnPeer.retry(attempt, next -> sendReport(ch, submitSeq, dest, next), id,
                        "no connection to the SP (" + via() + ")");
                return;
            }
            emit("report_sent", "msg_id", id, "state", (int) reportState, "error_code", (int) reportError,
                    "dest", dest, "via", via(), "report_seq", seq(r));
            CnPeer.acks(ps, SgipReportResponseMessage.class, SgipReportResponseMessage::getResult, "report_acked",
                    "report_failed", "msg_id", id);
        }

        boolean sendMo(String mobile, String spNumber, String text) {
            SgipDeliverRequestMessage d = new SgipDeliverRequestMessage();
            d.setUsernumber(mobile);
            d.setSpnumber(spNumber);
            d.setMsgContent(text);
            List<Promise<BaseMessage>> ps;
            try {
                ps = toSp(d, null);
            } catch (Exception e) {
                emit("mo_failed", "error", String.valueOf(e));
                return false;
            }
            if (ps == null) {
                emit("mo_failed", "error", "no connection to the SP (" + via() + ")");
                return false;
            }
            emit("mo_sent", "src", mobile, "dest", spNumber, "text", text, "parts", ps.size(), "via", via());
            CnPeer.acks(ps, SgipDeliverResponseMessage.class, SgipDeliverResponseMessage::getResult, "mo_acked",
                    "mo_failed");
            return true;
        }

        Map<String, Object> partJson(SgipSubmitRequestMessage p) {
            Map<String, Object> pj = new LinkedHashMap<>();
            pj.put("msg_id", seq(p));
            pj.put("udhi", (int) p.getTpudhi());
            pj.put("fmt", p.getMsgfmt() == null ? null : (int) p.getMsgfmt().getValue());
            pj.put("report_flag", (int) p.getReportflag());
            pj.put("content_hex", hex(p.getMsgContentBytes()));
            pj.put("concat", p.getTpudhi() != 0 ? concat(p.getMsgContentBytes()) : null);
            return pj;
        }

        /**
         * Answers every Submit part as it arrives, before SMSGate's long-message handler
         * holds the parts back until the whole message is in.
         */
        @Sharable
        final class SubmitResponder extends ChannelInboundHandlerAdapter {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
                if (msg instanceof SgipSubmitRequestMessage) {
                    SgipSubmitRequestMessage p = (SgipSubmitRequestMessage) msg;
                    Map<String, Object> e = ev("submit_part");
                    e.putAll(partJson(p));
                    e.put("src", p.getSpnumber());
                    e.put("dest", p.getUsernumber().length > 0 ? p.getUsernumber()[0] : null);
                    e.put("text", p.getTpudhi() != 0 ? null : p.getMsgContent());
                    e.put("result", (int) submitResult);
                    emit(e);
                    // the response carries the request's sequence number, timestamp included
                    SgipSubmitResponseMessage resp = new SgipSubmitResponseMessage(p.getHeader());
                    resp.setTimestamp(p.getTimestamp());
                    resp.setResult(submitResult);
                    ctx.channel().writeAndFlush(resp);
                    if (reports && submitResult == 0 && wantsReport(p.getReportflag())) {
                        scheduleReport(ctx.channel(), p);
                    }
                }
                ctx.fireChannelRead(msg);
            }
        }

        @Sharable
        final class ServerHandler extends CnPeer.ServerSessions {
            ServerHandler() {
                super(moTimer);
            }

            @Override
            public String name() {
                return "TernSgipServerHandler";
            }

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
                if (msg instanceof SgipSubmitRequestMessage) {
                    onSubmit((SgipSubmitRequestMessage) msg);
                } else if (msg instanceof SgipDeliverRequestMessage || msg instanceof SgipReportRequestMessage) {
                    // an SP sends neither; answer it anyway
                    SgipDefaultMessage q = (SgipDefaultMessage) msg;
                    SgipDefaultMessage r = msg instanceof SgipDeliverRequestMessage
                            ? new SgipDeliverResponseMessage(q.getHeader()) : new SgipReportResponseMessage(q.getHeader());
                    r.setTimestamp(q.getTimestamp());
                    ctx.channel().writeAndFlush(r);
                    emit("unexpected_request", "command", q.getClass().getSimpleName());
                }
                ctx.fireChannelRead(msg);
            }

            void onSubmit(SgipSubmitRequestMessage full) {
                List<SgipSubmitRequestMessage> parts = CnPeer.parts(full, full.getFragments(),
                        p -> partNo(p.getMsgContentBytes(), p.getTpudhi()));
                Map<String, Object> e = ev("submit");
                String[] users = full.getUsernumber();
                e.put("src", full.getSpnumber());
                e.put("dest", users.length == 1 ? users[0] : null);
                e.put("dests", Arrays.asList(users));
                e.put("charge_number", full.getChargenumber());
                e.put("corp_id", full.getCorpid());
                e.put("service_type", full.getServicetype());
                e.put("fee_type", (int) full.getFeetype());
                e.put("fee_value", full.getFeevalue());
                e.put("given_value", full.getGivenvalue());
                e.put("agent_flag", (int) full.getAgentflag());
                e.put("mo_relate_to_mt_flag", (int) full.getMorelatetomtflag());
                e.put("priority", (int) full.getPriority());
                e.put("expire_time", full.getExpiretime());
                e.put("schedule_time", full.getScheduletime());
                e.put("report_flag", (int) full.getReportflag());
                // CMPP's name, as the CMPP peer prints it: 1 when a report is asked for whatever the outcome
                e.put("registered_delivery", full.getReportflag() == 1 ? 1 : 0);
                e.put("tp_pid", (int) full.getTppid());
                e.put("fmt", full.getMsgfmt() == null ? null : (int) full.getMsgfmt().getValue());
                e.put("message_type", (int) full.getMessagetype());
                e.put("node_id", full.getHeader().getNodeId());
                e.put("text", full.getMsgContent());
                e.put("result", (int) submitResult);
                emit(CnPeer.with(e, CnPeer.partsJson(parts, Server.this::partJson)));
            }
        }

        /** Prints the SP listener's Bind_Resp and the end of each SMG-to-SP connection. */
        final class BackSpy extends ChannelDuplexHandler {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
                if (msg instanceof SgipBindResponseMessage) {
                    emit("back_bind_resp", "result", (int) ((SgipBindResponseMessage) msg).getResult(),
                            "remote", String.valueOf(ctx.channel().remoteAddress()));
                }
                ctx.fireChannelRead(msg);
            }

            @Override
            public void channelInactive(ChannelHandlerContext ctx) throws Exception {
                backConnecting = false;
                emit("back_closed", "remote", String.valueOf(ctx.channel().remoteAddress()));
                ctx.fireChannelInactive();
            }
        }

        @Sharable
        final class BackHandler extends AbstractBusinessHandler {
            @Override
            public String name() {
                return "TernSgipBackHandler";
            }

            @Override
            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
                if (evt == SessionState.Connect) {
                    backConnecting = false;
                    emit("back_session_up", "remote", String.valueOf(ctx.channel().remoteAddress()));
                }
                ctx.fireUserEventTriggered(evt);
            }
        }
    }

    // ------------------------------------------------------------------ client (an SP)

    static final class Client {
        final CnPeer.Args a;
        final CnPeer.Tally tally = new CnPeer.Tally();
        final CnPeer.Login login = new CnPeer.Login("Bind", "bind_resp", "result", "bind_result");

        Client(CnPeer.Args a) {
            this.a = a;
        }

        int run() throws Exception {
            long deadline = System.currentTimeMillis() + a.num("timeout-s", 30) * 1000;
            String user = a.req("user");
            String password = a.req("password");
            long nodeId = a.num("node-id", 3100012345L);
            short idleS = (short) a.num("idle-s", 30);
            boolean ucs2 = a.flag("ucs2");
            String dest = a.str("dest", "13800138000");
            String spNumber = a.str("sp-number", "10658762");

            if (a.has("listen")) {
                SgipServerEndpointEntity l = listener("sp-listener", a.str("listen-host", "127.0.0.1"),
                        (int) a.num("listen", 0), "listener_bind");
                SgipServerChildEndpointEntity c = new SgipServerChildEndpointEntity() {
                    @Override
                    protected SgipServerChildEndpointConnector buildConnector() {
                        return new SgipServerChildEndpointConnector(this) {
                            @Override
                            protected void doBindHandler(ChannelPipeline pipe, EndpointEntity entity) {
                                super.doBindHandler(pipe, entity);
                                pipe.addBefore("SgipDeliverLongMessageHandler", "ternResponder", new Responder("listener"));
                            }
                        };
                    }
                };
                common(c, "sp-listener-child", a.str("listen-user", user), a.str("listen-password", password),
                        nodeId, idleS);
                c.setChannelType(ChannelType.DUPLEX);
                c.setMaxChannels((short) 4);
                c.setRecvLongMsgOnMultiLink(true);
                c.setBusinessHandlerSet(handlers(new SpHandler("listener")));
                l.addchild(c);
                try {
                    emit("listening", "port", CnPeer.listen(l), "user", c.getLoginName());
                } catch (Exception e) {
                    emit("done", "submitted", 0, "ok", 0, "reports", 0, "error", "cannot listen: " + e);
                    return 2;
                }
            }

            SgipClientEndpointEntity client = new SgipClientEndpointEntity() {
                @Override
                protected SgipClientEndpointConnector buildConnector() {
                    return new SgipClientEndpointConnector(this) {
                        @Override
                        protected void doBindHandler(ChannelPipeline pipe, EndpointEntity entity) {
                            super.doBindHandler(pipe, entity);
                            pipe.addBefore("SgipDeliverLongMessageHandler", "ternResponder", new Responder("link"));
                        }

                        @Override
                        protected void doinitPipeLine(ChannelPipeline pipeline) {
                            super.doinitPipeLine(pipeline);
                            pipeline.addBefore(GlobalConstance.sessionLoginManager, "ternBindSpy",
                                    login.spy(SgipBindResponseMessage.class, SgipBindResponseMessage::getResult,
                                            r -> new Object[0]));
                        }
                    };
                }
            };
            common(client, "sp-client", user, password, nodeId, idleS);
            client.setHost(a.req("host"));
            client.setPort((int) a.num("port", -1));
            // SMSGate binds with login type 1 (SP to SMG) for a client of channel type DOWN
            client.setChannelType(ChannelType.DOWN);
            client.setMaxChannels((short) 1);
            client.setWindow(16);
            client.setRetryWaitTimeSec((short) 10);
            client.setMaxRetryCnt((short) 1);
            client.setBusinessHandlerSet(handlers(new SpHandler("link")));
            EndpointManager.INS.addEndpointEntity(client);

            int rc = login.await(client.getSingletonConnector().open(), deadline);
            if (rc != 0) return rc;

            int count = (int) a.num("count", 1);
            boolean report = a.flag("report");
            CnPeer.submit(client, tally, deadline, count, CnPeer.text(a, "SGIP"), report, dest, spNumber, t -> {
                SgipSubmitRequestMessage m = new SgipSubmitRequestMessage();
                m.setSpnumber(spNumber);
                m.setUsernumber(dest);
                m.setCorpid(a.str("corp-id", "12345"));
                m.setServicetype(a.str("service-type", "TERN"));
                // SGIP 1.2 ReportFlag: 1 a report whatever the outcome, 2 none
                m.setReportflag((short) (report ? 1 : 2));
                if (ucs2) {
                    m.setMsgContent(new SmsTextMessage(t,
                            SgipSmsDcs.getGeneralDataCodingDcs(SmsAlphabet.UCS2, SmsMsgClass.CLASS_UNKNOWN)));
                } else {
                    m.setMsgContent(t);
                }
                return m;
            }, r -> {
                if (!(r instanceof SgipSubmitResponseMessage)) return null;
                SgipSubmitResponseMessage sr = (SgipSubmitResponseMessage) r;
                // a part's id is its Submit's sequence number, which the Report names
                SgipDefaultMessage req = (SgipDefaultMessage) sr.getRequest();
                return new CnPeer.Resp(req != null ? seq(req) : seq(sr), sr.getResult(), "resp_seq", seq(sr), "result",
                        (int) sr.getResult());
            });
            return CnPeer.finish(a, tally, deadline, count, client, new SgipUnbindRequestMessage(), "unbind_resp");
        }

        /**
         * Answers every Report and Deliver as it arrives (before SMSGate's long-message
         * handler holds MO parts back until the whole message is in) and records the Reports.
         */
        @Sharable
        final class Responder extends ChannelInboundHandlerAdapter {
            final String via;

            Responder(String via) {
                this.via = via;
            }

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
                if (msg instanceof SgipReportRequestMessage) {
                    SgipReportRequestMessage r = (SgipReportRequestMessage) msg;
                    SgipReportResponseMessage resp = new SgipReportResponseMessage(r.getHeader());
                    resp.setTimestamp(r.getTimestamp());
                    resp.setResult((short) 0);
                    ctx.channel().writeAndFlush(resp);
                    String id = r.getSequenceId() == null ? null : r.getSequenceId().toString();
                    if (id != null) tally.report(id);
                    emit("report", "msg_id", id, "report_type", (int) r.getReporttype(), "state", (int) r.getState(),
                            "error_code", (int) r.getErrorcode(), "user_number", r.getUsernumber(), "via", via,
                            "node_id", r.getHeader().getNodeId(), "report_seq", seq(r));
                } else if (msg instanceof SgipDeliverRequestMessage) {
                    SgipDeliverRequestMessage d = (SgipDeliverRequestMessage) msg;
                    SgipDeliverResponseMessage resp = new SgipDeliverResponseMessage(d.getHeader());
                    resp.setTimestamp(d.getTimestamp());
                    resp.setResult((short) 0);
                    ctx.channel().writeAndFlush(resp);
                    emit("mo_part", "src", d.getUsernumber(), "dest", d.getSpnumber(), "udhi", (int) d.getTpudhi(),
                            "fmt", d.getMsgfmt() == null ? null : (int) d.getMsgfmt().getValue(),
                            "content_hex", hex(d.getMsgContentBytes()), "via", via, "seq", seq(d));
                }
                ctx.fireChannelRead(msg);
            }
        }

        @Sharable
        final class SpHandler extends AbstractBusinessHandler {
            final String via;

            SpHandler(String via) {
                this.via = via;
            }

            @Override
            public String name() {
                return "TernSgipSpHandler";
            }

            @Override
            public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
                if (evt == SessionState.Connect) {
                    if (via.equals("link")) {
                        emit("connected", "node_id", ((SgipEndpointEntity) getEndpointEntity()).getNodeId());
                        login.up();
                    } else {
                        emit("listener_session_up", "remote", String.valueOf(ctx.channel().remoteAddress()));
                    }
                }
                ctx.fireUserEventTriggered(evt);
            }

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
                // MOs, merged by SMSGate when long; Reports were handled on arrival
                if (msg instanceof SgipDeliverRequestMessage) {
                    SgipDeliverRequestMessage d = (SgipDeliverRequestMessage) msg;
                    int parts = 1 + (d.getFragments() == null ? 0 : d.getFragments().size());
                    tally.mo();
                    emit("mo", "src", d.getUsernumber(), "dest", d.getSpnumber(), "text", d.getMsgContent(),
                            "fmt", d.getMsgfmt() == null ? null : (int) d.getMsgfmt().getValue(), "parts", parts,
                            "via", via);
                }
                ctx.fireChannelRead(msg);
            }
        }
    }
}
