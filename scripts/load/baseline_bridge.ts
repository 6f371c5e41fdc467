/**
 * The baseline for load runs: a minimal Twilio <-> OpenAI Realtime pass-through bridge
 * written the usual way, following the public Twilio sample
 * (twilio-samples/speech-assistant-openai-realtime-api-node), ported to Deno.serve and the
 * GA event names: JSON.parse every Twilio message, forward the media payload in
 * `input_audio_buffer.append` via JSON.stringify, forward each
 * `response.output_audio.delta` as Twilio media via JSON.stringify followed by a mark,
 * and on `speech_started` send `clear` and a truncate with the sample's elapsed-time
 * estimate. No validation, no signatures, no call token, no database, no reconnects.
 * Its only purpose is to show, as a ratio, what our validation, marks and bookkeeping
 * cost per call.
 *
 * @module
 */

/** Options of {@linkcode startBaselineBridge}. */
export interface BaselineOptions {
  /** Realtime endpoint, e.g. `ws://127.0.0.1:PORT/v1/realtime`. */
  modelUrl: string;
  apiKey: string;
  /** Public host written into the TwiML stream URL. */
  publicHost: string;
  port?: number;
}

/** Starts the baseline bridge on loopback. */
export function startBaselineBridge(options: BaselineOptions): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port: options.port ?? 0, onListen: () => {} },
    (req) => {
      const url = new URL(req.url);
      if (url.pathname === "/twilio/voice") {
        const twiml = `<?xml version="1.0" encoding="UTF-8"?><Response><Connect>` +
          `<Stream url="wss://${options.publicHost}/twilio/media" /></Connect></Response>`;
        return new Response(twiml, { headers: { "content-type": "text/xml" } });
      }
      if (url.pathname === "/twilio/media") {
        const { socket, response } = Deno.upgradeWebSocket(req);
        bridge(socket, options);
        return response;
      }
      return new Response("not found", { status: 404 });
    },
  );
}

/** One call, the sample's way. */
function bridge(connection: WebSocket, options: BaselineOptions): void {
  let streamSid: string | null = null;
  let latestMediaTimestamp = 0;
  let lastAssistantItem: string | null = null;
  let markQueue: string[] = [];
  let responseStartTimestampTwilio: number | null = null;

  const openAiWs = new WebSocket(`${options.modelUrl}?model=gpt-realtime`, {
    headers: { Authorization: `Bearer ${options.apiKey}` },
  });

  const initializeSession = () => {
    const sessionUpdate = {
      type: "session.update",
      session: {
        type: "realtime",
        model: "gpt-realtime",
        output_modalities: ["audio"],
        audio: {
          input: { format: { type: "audio/pcmu" }, turn_detection: { type: "server_vad" } },
          output: { format: { type: "audio/pcmu" }, voice: "marin" },
        },
        instructions: "You are a helpful receptionist.",
      },
    };
    openAiWs.send(JSON.stringify(sessionUpdate));
    // The sample can have the AI speak first; ours greets, so the baseline does too.
    openAiWs.send(JSON.stringify({ type: "response.create" }));
  };

  const handleSpeechStartedEvent = () => {
    if (markQueue.length > 0 && responseStartTimestampTwilio != null) {
      const elapsedTime = latestMediaTimestamp - responseStartTimestampTwilio;
      if (lastAssistantItem) {
        const truncateEvent = {
          type: "conversation.item.truncate",
          item_id: lastAssistantItem,
          content_index: 0,
          audio_end_ms: elapsedTime,
        };
        openAiWs.send(JSON.stringify(truncateEvent));
      }
      connection.send(JSON.stringify({ event: "clear", streamSid: streamSid }));
      markQueue = [];
      lastAssistantItem = null;
      responseStartTimestampTwilio = null;
    }
  };

  const sendMark = () => {
    if (streamSid) {
      connection.send(JSON.stringify({
        event: "mark",
        streamSid: streamSid,
        mark: { name: "responsePart" },
      }));
      markQueue.push("responsePart");
    }
  };

  openAiWs.onopen = () => {
    setTimeout(initializeSession, 100);
  };

  openAiWs.onmessage = (ev) => {
    try {
      const response = JSON.parse(ev.data);
      if (response.type === "response.output_audio.delta" && response.delta) {
        const audioDelta = {
          event: "media",
          streamSid: streamSid,
          media: { payload: response.delta },
        };
        connection.send(JSON.stringify(audioDelta));
        if (!responseStartTimestampTwilio) responseStartTimestampTwilio = latestMediaTimestamp;
        if (response.item_id) lastAssistantItem = response.item_id;
        sendMark();
      }
      if (response.type === "input_audio_buffer.speech_started") handleSpeechStartedEvent();
    } catch (error) {
      console.error("Error processing OpenAI message:", error, "Raw message:", ev.data);
    }
  };

  connection.onmessage = (ev) => {
    try {
      const data = JSON.parse(ev.data);
      switch (data.event) {
        case "media":
          latestMediaTimestamp = data.media.timestamp;
          if (openAiWs.readyState === WebSocket.OPEN) {
            const audioAppend = { type: "input_audio_buffer.append", audio: data.media.payload };
            openAiWs.send(JSON.stringify(audioAppend));
          }
          break;
        case "start":
          streamSid = data.start.streamSid;
          responseStartTimestampTwilio = null;
          latestMediaTimestamp = 0;
          break;
        case "mark":
          if (markQueue.length > 0) markQueue.shift();
          break;
        default:
          break;
      }
    } catch (error) {
      console.error("Error parsing message:", error, "Message:", ev.data);
    }
  };

  connection.onclose = () => {
    if (openAiWs.readyState === WebSocket.OPEN || openAiWs.readyState === WebSocket.CONNECTING) {
      openAiWs.close();
    }
  };
  openAiWs.onclose = () => {};
  openAiWs.onerror = (error) => console.error("Error in the OpenAI WebSocket:", error);
}
