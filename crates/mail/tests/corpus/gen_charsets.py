#!/usr/bin/env python3
"""Writes the corpus messages whose bodies are in non-UTF-8 charsets (or need exact
base64 / quoted-printable bytes). Run from this directory; then regenerate the .json
files with UPDATE_GOLDEN=1 and check the decoded text by eye."""
import base64, quopri, email.header

def qp(text, charset):
    return quopri.encodestring(text.encode(charset)).decode("ascii")

def b64(data):
    s = base64.b64encode(data).decode("ascii")
    return "\n".join(s[i:i+76] for i in range(0, len(s), 76))

def word(text, charset, enc="B"):
    raw = text.encode(charset)
    if enc == "B":
        return "=?%s?B?%s?=" % (charset, base64.b64encode(raw).decode())
    return "=?%s?Q?%s?=" % (charset, "".join(
        "_" if c == 0x20 else chr(c) if (48 <= c < 58 or 65 <= c < 91 or 97 <= c < 123) else "=%02X" % c
        for c in raw))

def write(name, data):
    with open(name, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("ascii"))

def simple(name, charset, cte, from_, subject_word, body, date, mid, extra=""):
    if cte == "quoted-printable":
        payload = qp(body, charset)
    elif cte == "base64":
        payload = b64(body.encode(charset))
    else:
        payload = None
    head = (f"Date: {date}\nFrom: {from_}\nTo: support@helpdesk.example.org\n"
            f"Subject: {subject_word}\nMessage-ID: <{mid}>\nMIME-Version: 1.0\n{extra}"
            f"Content-Type: text/plain; charset={charset}\nContent-Transfer-Encoding: {cte}\n\n")
    if payload is None:
        write(name, head.encode("ascii") + body.encode(charset) + b"\n")
    else:
        write(name, head + payload + ("\n" if not payload.endswith("\n") else ""))

simple("charset_iso8859_1_qp.eml", "iso-8859-1", "quoted-printable",
       "=?iso-8859-1?Q?Fran=E7ois_Lef=E8vre?= <f.lefevre@example.fr>",
       word("Problème d'accès à l'intranet", "iso-8859-1", "Q"),
       "Bonjour,\n\nje n'arrive plus à accéder à l'intranet depuis ce matin.\nLe message d'erreur est « accès refusé ».\n\nCordialement,\nFrançois Lefèvre\n",
       "Mon, 11 Mar 2024 08:05:00 +0100", "a1b2c3.iso88591@example.fr")

simple("charset_iso8859_2_qp.eml", "iso-8859-2", "quoted-printable",
       "=?iso-8859-2?Q?Pawe=B3_Wi=B6niewski?= <pawel.w@example.pl>",
       word("Zażółć gęślą jaźń - drukarka", "iso-8859-2", "Q"),
       "Dzień dobry,\n\ndrukarka w pokoju 12 nie działa. Wyświetla błąd „Zacięcie papieru”.\n\nPozdrawiam,\nPaweł Wiśniewski\n".replace("„", '"').replace("”", '"'),
       "Mon, 11 Mar 2024 09:10:00 +0100", "pl.88592.77@example.pl")

simple("charset_iso8859_15_qp.eml", "iso-8859-15", "quoted-printable",
       word("Esa Mäkinen", "iso-8859-15", "Q") + " <esa.makinen@example.fi>",
       word("Laskun summa 120 € väärin", "iso-8859-15", "Q"),
       "Hei,\n\nlaskussa lukee 120 €, mutta sopimuksen mukaan hinta on 100 €.\nVoitteko tarkistaa? Šekki ja Žetoni ovat liitteenä.\n\nTerveisin,\nEsa Mäkinen\n",
       "Tue, 12 Mar 2024 13:45:00 +0200", "fi.885915.1@example.fi")

simple("charset_windows1251_b64.eml", "windows-1251", "base64",
       "=?windows-1251?B?" + base64.b64encode("Иван Петров".encode("cp1251")).decode() + "?= <ivan.petrov@example.ru>",
       word("Не работает электронная почта", "windows-1251", "B"),
       "Здравствуйте!\n\nС утра не работает электронная почта в бухгалтерии.\nОшибка: «Сервер недоступен».\n\nС уважением,\nИван Петров\n",
       "Wed, 13 Mar 2024 10:00:00 +0300", "ru.1251.42@example.ru")

simple("charset_windows1252_qp.eml", "windows-1252", "quoted-printable",
       word("O'Brien, Seán", "windows-1252", "Q") + " <sean.obrien@example.ie>",
       word("“Smart quotes” – and a € sign…", "windows-1252", "Q"),
       "Hi team,\n\nOutlook shows “smart quotes” and an en dash – fine here.\nThe licence costs €49… per seat.\n\nSeán\n",
       "Wed, 13 Mar 2024 11:11:11 +0000", "ie.1252.9@example.ie")

simple("charset_koi8r_8bit.eml", "koi8-r", "8bit",
       "=?koi8-r?B?" + base64.b64encode("Ольга Смирнова".encode("koi8_r")).decode() + "?= <olga@example.ru>",
       word("Сброс пароля", "koi8-r", "B"),
       "Добрый день!\n\nПрошу сбросить пароль для учётной записи osmirnova.\n\nСпасибо,\nОльга\n",
       "Thu, 14 Mar 2024 09:30:00 +0300", "koi8.r.5@example.ru")

simple("charset_shift_jis_b64.eml", "shift_jis", "base64",
       "=?shift_jis?B?" + base64.b64encode("山田太郎".encode("shift_jis")).decode() + "?= <taro.yamada@example.jp>",
       word("パスワードの再設定について", "shift_jis", "B"),
       "お世話になっております。\n\nパスワードの再設定をお願いいたします。\n\n山田太郎\n",
       "Fri, 15 Mar 2024 10:00:00 +0900", "jp.sjis.3@example.jp")

simple("charset_gb18030_b64.eml", "gb18030", "base64",
       "=?gb18030?B?" + base64.b64encode("王小明".encode("gb18030")).decode() + "?= <wang.xm@example.cn>",
       word("无法登录系统", "gb18030", "B"),
       "您好，\n\n我今天无法登录报销系统，提示“密码错误”。\n\n谢谢！\n王小明\n",
       "Fri, 15 Mar 2024 11:00:00 +0800", "cn.gb18030.8@example.cn")

simple("charset_big5_b64.eml", "big5", "base64",
       "=?big5?B?" + base64.b64encode("陳大文".encode("big5")).decode() + "?= <chan.tm@example.hk>",
       word("打印機故障", "big5", "B"),
       "你好，\n\n三樓的打印機今天早上開始無法使用。\n\n陳大文\n",
       "Sat, 16 Mar 2024 09:00:00 +0800", "hk.big5.2@example.hk")

simple("charset_euc_kr_b64.eml", "euc-kr", "base64",
       "=?euc-kr?B?" + base64.b64encode("김민수".encode("euc_kr")).decode() + "?= <minsu.kim@example.kr>",
       word("모니터 교체 요청", "euc-kr", "B"),
       "안녕하세요,\n\n모니터가 깜박거립니다. 교체 부탁드립니다.\n\n김민수\n",
       "Sat, 16 Mar 2024 10:00:00 +0900", "kr.euckr.4@example.kr")

# ISO-2022-JP is 7-bit on the wire: no transfer encoding.
body = "田中です。\n会議室のプロジェクターが映りません。\n".encode("iso2022_jp")
head = ("Date: Sun, 17 Mar 2024 09:00:00 +0900\nFrom: " + word("田中一郎", "iso-2022-jp", "B") +
        " <tanaka@example.jp>\nTo: support@helpdesk.example.org\nSubject: " + word("プロジェクター故障", "iso-2022-jp", "B") +
        "\nMessage-ID: <jp.2022.1@example.jp>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=ISO-2022-JP\nContent-Transfer-Encoding: 7bit\n\n")
write("charset_iso2022jp_7bit.eml", head.encode("ascii") + body)

# Subject made of encoded words in three charsets, Q and B, folded over two lines.
subj = (word("Grüße", "iso-8859-1", "Q") + " " + word(" und Привет", "koi8-r", "B") + "\n " +
        word(" – 你好", "utf-8", "B") + " plain tail")
write("subject_encoded_words.eml",
      "Date: Mon, 18 Mar 2024 12:00:00 +0000\nFrom: Multi Lingual <ml@example.org>\n"
      "To: support@helpdesk.example.org\nSubject: " + subj + "\nMessage-ID: <subj.words.1@example.org>\n"
      "MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\nSee subject.\n")

# Attachments: a tiny PDF, a PNG, an RFC 2231 UTF-8 name with continuations, and an
# RFC 2047 encoded name.
png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==")
pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
write("attachments_pdf_png.eml", f"""Date: Tue, 19 Mar 2024 15:20:00 +0100
From: Carla Rossi <carla.rossi@example.it>
To: support@helpdesk.example.org
Subject: Screenshot and report of the crash
Message-ID: <att.pdf.png.1@example.it>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="=-=-=mixed"

--=-=-=mixed
Content-Type: text/plain; charset=utf-8

Crash report and screenshot attached.

--=-=-=mixed
Content-Type: application/pdf; name="crash report.pdf"
Content-Disposition: attachment; filename="crash report.pdf"
Content-Transfer-Encoding: base64

{b64(pdf)}
--=-=-=mixed
Content-Type: image/png
Content-Disposition: attachment; filename="screen.png"
Content-Transfer-Encoding: base64

{b64(png)}
--=-=-=mixed
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

{b64(bytes(range(16)))}
--=-=-=mixed--
""")

zeilen = b64("Zeile 1\nZeile 2\n".encode("utf-8"))
xls_name = word("Kostenübersicht.xls", "utf-8", "B")
write("rfc2231_filenames.eml", f"""Date: Tue, 19 Mar 2024 16:00:00 +0100
From: Dominik Nowak <d.nowak@example.de>
To: support@helpdesk.example.org
Subject: Unterlagen
Message-ID: <rfc2231.1@example.de>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b2231"

--b2231
Content-Type: text/plain; charset=utf-8

Anbei die Unterlagen.

--b2231
Content-Type: application/pdf
Content-Disposition: attachment;
 filename*=UTF-8''Gr%C3%BC%C3%9Fe%20aus%20K%C3%B6ln.pdf
Content-Transfer-Encoding: base64

{b64(pdf)}
--b2231
Content-Type: text/plain; charset=utf-8
Content-Disposition: attachment;
 filename*0*=UTF-8''%C3%9Cbersicht%20;
 filename*1*=Q1%202024;
 filename*2=".txt"
Content-Transfer-Encoding: base64

{zeilen}
--b2231
Content-Type: application/vnd.ms-excel; name="{xls_name}"
Content-Disposition: attachment
Content-Transfer-Encoding: base64

{b64(b"xls-bytes")}
--b2231--
""")

write("inline_image_related.eml", f"""Date: Wed, 20 Mar 2024 08:45:00 -0500
From: Mike Johnson <mjohnson@example.com>
To: support@helpdesk.example.org
Subject: Error dialog when saving
Message-ID: <CAF=inline.image.1@mail.gmail.com>
MIME-Version: 1.0
Content-Type: multipart/related; boundary="000000000000rel"

--000000000000rel
Content-Type: multipart/alternative; boundary="000000000000alt"

--000000000000alt
Content-Type: text/plain; charset="UTF-8"

This dialog appears when I save:
[image: error.png]
Mike

--000000000000alt
Content-Type: text/html; charset="UTF-8"

<div dir="ltr">This dialog appears when I save:<br><img src="cid:ii_lu0xk1b70" alt="error.png" width="1" height="1"><br>Mike</div>

--000000000000alt--
--000000000000rel
Content-Type: image/png; name="error.png"
Content-Disposition: inline; filename="error.png"
Content-Transfer-Encoding: base64
Content-ID: <ii_lu0xk1b70>
X-Attachment-Id: ii_lu0xk1b70

{b64(png)}
--000000000000rel--
""")
