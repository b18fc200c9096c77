"""An SMTP server for the report tests: aiosmtpd on 127.0.0.1:<port> with
STARTTLS required (the given certificate and key). Each message received
is parsed with the standard `email` package and written to <out>/<n>.json
({mail_from, rcpt_tos, subject, text, attachments: [{filename,
content_type, file}]}), each attachment to <out>/<n>-<filename>. Prints
"ready" once listening; runs until killed."""

import json
import os
import ssl
import sys
import time
from email import policy
from email.parser import BytesParser

from aiosmtpd.controller import Controller


class Save:
    def __init__(self, out):
        self.out = out
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        msg = BytesParser(policy=policy.default).parsebytes(envelope.content)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg["subject"]),
            "tls": session.ssl is not None,
            "text": "",
            "attachments": [],
        }
        for part in msg.walk():
            if part.is_multipart():
                continue
            name = part.get_filename()
            if name:
                path = os.path.join(self.out, f"{self.n}-{name}")
                with open(path, "wb") as f:
                    f.write(part.get_payload(decode=True))
                record["attachments"].append(
                    {"filename": name, "content_type": part.get_content_type(), "file": path}
                )
            elif part.get_content_type() == "text/plain":
                record["text"] += part.get_content()
        tmp = os.path.join(self.out, f"{self.n}.json.tmp")
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.out, f"{self.n}.json"))
        return "250 OK"


def main():
    port, cert, key, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    controller = Controller(
        Save(out), hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True
    )
    controller.start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
