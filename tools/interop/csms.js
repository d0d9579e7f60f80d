#!/usr/bin/env node
// Strict OCPP CSMS on ocpp-rpc, an implementation independent of the Python `ocpp` library, speaking
// OCPP 1.6J and OCPP 2.0.1 (subprotocols ocpp1.6, ocpp2.0.1; the charge point chooses): strictMode validates
// every message in both directions against that version's JSON schemas (with formats such as date-time
// enforced). Used by the interop tests (tests/interop) and by hand.
//
//   node csms.js [--host 127.0.0.1] [--port 0] [--accept TAG]... [--block TAG]... [--boot-status Accepted]
//                [--heartbeat-interval 300] [--password CP=SECRET]... [--record FILE]
//                [--tls-cert server.pem --tls-key server.key]      (wss://, security profile 2)
//
// Output: one JSON object per line on stdout (and appended to --record FILE):
//   {"event":"listening","port":N}            first line, once listening
//   {"event":"connect","cp":ID,"protocol":P}  / {"event":"disconnect","cp":ID,"code":N}
//   {"event":"frame","cp":ID,"outbound":B,"frame":[...]}   every OCPP-J frame, both directions
//   {"event":"validation_failure","cp":ID,"outbound":B,"isCall":B,"method":M,"error":TEXT}
//   {"event":"command_result","id":X,"result":{...}} or {"event":"command_result","id":X,"error":TEXT}
// Input: one JSON command per line on stdin, a CSMS-initiated call:
//   {"id":X,"cp":"CP_1","method":"RemoteStartTransaction","params":{"idTag":"T1","connectorId":1}}
'use strict';

const fs = require('fs');
const https = require('https');
const readline = require('readline');
const { RPCServer, createRPCError } = require('ocpp-rpc');

function parseArgs(argv) {
    const opts = {
        host: '127.0.0.1', port: 0, accept: null, block: [], bootStatus: 'Accepted',
        heartbeatInterval: 300, passwords: null, record: null, tlsCert: null, tlsKey: null,
    };
    for (let i = 0; i < argv.length; i++) {
        const flag = argv[i];
        const value = argv[++i];
        if (value === undefined) throw new Error(`${flag} needs a value`);
        switch (flag) {
            case '--host': opts.host = value; break;
            case '--port': opts.port = Number(value); break;
            case '--accept': (opts.accept = opts.accept || []).push(value); break;
            case '--block': opts.block.push(value); break;
            case '--boot-status': opts.bootStatus = value; break;
            case '--heartbeat-interval': opts.heartbeatInterval = Number(value); break;
            case '--password': {
                const at = value.indexOf('=');
                if (at < 1) throw new Error(`--password ${value}: expected CP_ID=PASSWORD`);
                (opts.passwords = opts.passwords || {})[value.slice(0, at)] = value.slice(at + 1);
                break;
            }
            case '--record': opts.record = value; break;
            case '--tls-cert': opts.tlsCert = value; break;
            case '--tls-key': opts.tlsKey = value; break;
            default: throw new Error(`unknown option ${flag}`);
        }
    }
    if ((opts.tlsCert === null) !== (opts.tlsKey === null)) throw new Error('--tls-cert and --tls-key go together');
    return opts;
}

const opts = parseArgs(process.argv.slice(2));
const recordFile = opts.record ? fs.openSync(opts.record, 'a') : null;

function emit(event) {
    const line = JSON.stringify({ t: new Date().toISOString(), ...event }) + '\n';
    process.stdout.write(line);
    if (recordFile !== null) fs.writeSync(recordFile, line);
}

function tagStatus(idTag) {
    if (opts.block.includes(idTag)) return 'Blocked';
    if (opts.accept === null || opts.accept.includes(idTag)) return 'Accepted';
    return 'Invalid';
}

const clients = new Map();
let nextTransactionId = 1;

const server = new RPCServer({ protocols: ['ocpp1.6', 'ocpp2.0.1'], strictMode: true });

server.auth((accept, reject, handshake) => {
    if (opts.passwords !== null) {
        const expected = opts.passwords[handshake.identity];
        const given = handshake.password ? handshake.password.toString('utf8') : undefined;
        if (expected === undefined || given !== expected) {
            emit({ event: 'auth_rejected', cp: handshake.identity });
            reject(401);
            return;
        }
    }
    accept();
});

server.on('client', (client) => {
    const cp = client.identity;
    clients.set(cp, client);
    emit({ event: 'connect', cp, protocol: client.protocol });

    client.on('message', ({ message, outbound }) => {
        let frame;
        try { frame = JSON.parse(message); } catch { frame = String(message); }
        emit({ event: 'frame', cp, outbound, frame });
    });
    client.on('strictValidationFailure', ({ error, method, outbound, isCall }) => {
        emit({ event: 'validation_failure', cp, outbound, isCall, method, error: String(error && error.message) });
    });
    client.on('close', ({ code }) => {
        if (clients.get(cp) === client) clients.delete(cp);
        emit({ event: 'disconnect', cp, code });
    });

    if (client.protocol === 'ocpp2.0.1') {
        handle201(client);
        return;
    }
    const idTagInfo = (idTag) => ({ status: tagStatus(idTag) });
    client.handle('BootNotification', () => ({
        status: opts.bootStatus, currentTime: new Date().toISOString(), interval: opts.heartbeatInterval,
    }));
    client.handle('Heartbeat', () => ({ currentTime: new Date().toISOString() }));
    client.handle('Authorize', ({ params }) => ({ idTagInfo: idTagInfo(params.idTag) }));
    client.handle('StartTransaction', ({ params }) => ({
        transactionId: nextTransactionId++, idTagInfo: idTagInfo(params.idTag),
    }));
    client.handle('StopTransaction', ({ params }) => (params.idTag ? { idTagInfo: idTagInfo(params.idTag) } : {}));
    for (const method of ['MeterValues', 'StatusNotification', 'FirmwareStatusNotification',
        'DiagnosticsStatusNotification', 'SecurityEventNotification', 'LogStatusNotification',
        'SignedFirmwareStatusNotification']) {
        client.handle(method, () => ({}));
    }
    client.handle('SignCertificate', () => ({ status: 'Accepted' }));
    client.handle('DataTransfer', () => ({ status: 'Accepted' }));
    client.handle(({ method }) => {
        throw createRPCError('NotImplemented', `${method} is not handled by the interop CSMS`);
    });
});

// OCPP 2.0.1: the station-initiated messages a charging station sends, answered minimally but validly.
function handle201(client) {
    const idTokenInfo = (idToken) => ({ status: tagStatus(idToken.idToken) });
    client.handle('BootNotification', () => ({
        status: opts.bootStatus, currentTime: new Date().toISOString(), interval: opts.heartbeatInterval,
    }));
    client.handle('Heartbeat', () => ({ currentTime: new Date().toISOString() }));
    client.handle('Authorize', ({ params }) => ({ idTokenInfo: idTokenInfo(params.idToken) }));
    client.handle('TransactionEvent', ({ params }) => (params.idToken ? { idTokenInfo: idTokenInfo(params.idToken) } : {}));
    for (const method of ['NotifyReport', 'StatusNotification', 'MeterValues', 'NotifyEvent',
        'SecurityEventNotification', 'FirmwareStatusNotification', 'LogStatusNotification',
        'NotifyChargingLimit', 'ClearedChargingLimit', 'ReportChargingProfiles', 'NotifyCustomerInformation',
        'ReservationStatusUpdate']) {
        client.handle(method, () => ({}));
    }
    client.handle('SignCertificate', () => ({ status: 'Accepted' }));
    client.handle('DataTransfer', () => ({ status: 'UnknownVendorId' }));
    client.handle(({ method }) => {
        throw createRPCError('NotImplemented', `${method} is not handled by the interop CSMS`);
    });
}

readline.createInterface({ input: process.stdin }).on('line', async (line) => {
    if (!line.trim()) return;
    let command;
    try {
        command = JSON.parse(line);
    } catch (err) {
        emit({ event: 'command_result', id: null, error: `bad command JSON: ${err.message}` });
        return;
    }
    const client = clients.get(command.cp);
    if (!client) {
        emit({ event: 'command_result', id: command.id, error: `charge point ${command.cp} not connected` });
        return;
    }
    try {
        const result = await client.call(command.method, command.params || {});
        emit({ event: 'command_result', id: command.id, result });
    } catch (err) {
        emit({ event: 'command_result', id: command.id, error: `${err.rpcErrorCode || err.name}: ${err.message}` });
    }
});

async function main() {
    let httpServer;
    if (opts.tlsCert !== null) {
        httpServer = https.createServer({ cert: fs.readFileSync(opts.tlsCert), key: fs.readFileSync(opts.tlsKey) });
        httpServer.on('upgrade', server.handleUpgrade);
        await new Promise((resolve, reject) => {
            httpServer.once('error', reject);
            httpServer.listen(opts.port, opts.host, resolve);
        });
    } else {
        httpServer = await server.listen(opts.port, opts.host);
    }
    emit({ event: 'listening', port: httpServer.address().port, tls: opts.tlsCert !== null });
    const shutdown = async () => {
        await server.close({ code: 1001, reason: 'CSMS shutting down' });
        httpServer.close();
        process.exit(0);
    };
    process.on('SIGTERM', shutdown);
    process.on('SIGINT', shutdown);
}

main().catch((err) => {
    process.stderr.write(`interop CSMS failed to start: ${err.stack || err}\n`);
    process.exit(1);
});
