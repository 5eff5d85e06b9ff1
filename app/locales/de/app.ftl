# Latchkey-App — Deutsch. Dieselben IDs und Variablen wie Englisch.
# Wörter aus der EU-Login-App: „Initialisieren", „Authentifizieren", „PIN vergessen".

app-name = Latchkey
tray-open = Latchkey öffnen
tray-quit = Latchkey beenden
back = Zurück
cancel = Abbrechen
done = Fertig
key-erase = Letzte Ziffer löschen ({ $label })
pin-field-a11y = { $label }: { $filled } von { $digits } Ziffern eingegeben
busy-a11y = In Arbeit: { $what }

## Konten (Start)
accounts-title = Meine Konten
accounts-empty = Noch kein Konto. Öffnen Sie auf der Webseite Ihres Kontos „Mobilgerät hinzufügen", wählen Sie dann hier „Initialisieren" und scannen Sie den Code.
accounts-keys-forgotten = Dieser Computer hält seine Schlüssel im Kernel-Schlüsselbund, der sie beim Neustart vergisst: Die hier hinzugefügten Konten müssen dann erneut hinzugefügt werden. Starten Sie GNOME Keyring oder KWallet, um sie zu behalten.
accounts-notifications-off = Benachrichtigungen sind aus: Anmeldeanfragen erscheinen nur, solange Latchkey geöffnet ist. Schalten Sie sie in den Einstellungen des Telefons ein.
accounts-add = Initialisieren (Konto hinzufügen)
accounts-check-now = Jetzt nach Anmeldeanfragen suchen
accounts-checking = Suche nach Anmeldeanfragen…
accounts-settings = Einstellungen
account-row-a11y = { $service }, { $account }, auf { $host }. { $status }
account-active = Bereit, Anmeldungen zu bestätigen
account-locked = Nach falschen PINs gesperrt: „PIN vergessen" verwenden
account-enrolling = Das Hinzufügen dieses Kontos wurde nicht abgeschlossen
account-pending = { $count ->
    [one] 1 Anmeldeanfrage wartet
   *[other] { $count } Anmeldeanfragen warten
}
account-assurance-software = Schlüssel in der Software, verschlüsselt
account-assurance-hardware = Schlüssel in der Hardware des Geräts
account-assurance-secure-element = Schlüssel im Sicherheitschip des Geräts
offline = { $host } ist für Anmeldeanfragen nicht erreichbar; neuer Versuch läuft. Prüfen Sie die Verbindung.

## Ein Konto
account-title = { $service }
account-requests-none = Keine Anmeldeanfrage wartet.
account-request-row = Anmeldung von { $browser } um { $time }
account-change-pin = PIN ändern
account-forgot-pin = PIN vergessen
account-remove = Dieses Konto entfernen

## Scannen
scan-title = Initialisieren
scan-point = Richten Sie die Kamera auf den QR-Code der Seite „Mobilgerät hinzufügen".
scan-point-desktop = Öffnen Sie die Seite „Mobilgerät hinzufügen“, sodass ihr QR-Code auf Ihrem Bildschirm ist, und wählen Sie dann „Meine Bildschirme scannen“. Oder fügen Sie den Link unter dem Code ein.
scan-steady = Ruhig halten und näher herangehen, bis der ganze Code im Bild ist.
scan-not-latchkey = Das ist kein Latchkey-Code: { $reason }
scan-expired = Dieser Code ist abgelaufen oder wurde schon verwendet. Lassen Sie sich auf der Seite einen neuen geben.
scan-camera-a11y = Kamerabild zum Scannen des QR-Codes
scan-camera-denied = Latchkey darf die Kamera nicht verwenden. Erlauben Sie es in den Einstellungen des Telefons (Apps, Latchkey, Berechtigungen) oder fügen Sie den Link unter dem Code ein.
scan-camera-missing = Die Kamera kann nicht verwendet werden. Fügen Sie stattdessen den Link unter dem Code ein.
scan-torch-on = Licht an
scan-torch-off = Licht aus
scan-torch-on-a11y = Das Licht der Kamera einschalten
scan-torch-off-a11y = Das Licht der Kamera ausschalten
scan-paste = Link einfügen
scan-paste-label = Anmeldelink (beginnt mit https://)
scan-paste-use = Diesen Link verwenden
scan-open-image = Bild des Codes öffnen
scan-screens = Meine Bildschirme scannen
scan-paste-image = Bild des Codes einfügen
scan-screens-busy = Code wird auf Ihren Bildschirmen gesucht …
scan-clipboard-busy = Code wird im kopierten Bild gesucht …
scan-found-on-screen = Code auf Bildschirm { $number } ({ $name }) gefunden.
scan-screens-none = Kein Latchkey-Code auf { $count ->
    [one] Ihrem Bildschirm
   *[other] einem Ihrer { $count } Bildschirme
}. Öffnen Sie die Seite „Mobilgerät hinzufügen“ des Kontos, sodass ihr Code sichtbar ist, und scannen Sie erneut.
scan-clipboard-none = Die Zwischenablage enthält kein Bild eines Latchkey-Codes. Kopieren Sie das Bild des Codes oder fügen Sie stattdessen den Link ein.
scan-capture-failed = Der Bildschirm konnte nicht aufgenommen werden ({ $reason }). Öffnen Sie ein Bild des Codes oder fügen Sie stattdessen den Link ein.
scan-clipboard-failed = Die Zwischenablage konnte nicht gelesen werden ({ $reason }). Fügen Sie stattdessen den Link ein.
scan-point-desktop-webcam = Öffnen Sie die Seite „Mobilgerät hinzufügen“, sodass ihr QR-Code auf Ihrem Bildschirm ist, und wählen Sie dann „Meine Bildschirme scannen“. Ist der Code auf einem anderen Gerät oder auf Papier, wählen Sie „Meine Kamera verwenden“. Oder fügen Sie den Link unter dem Code ein.
scan-webcam-start = Meine Kamera verwenden
scan-webcam-stop = Kamera beenden
scan-webcam-starting = Kamera wird gestartet …
scan-webcam-point = Halten Sie den QR-Code so vor die Kamera, dass der ganze Code im Bild ist.
scan-webcam-denied = Latchkey darf die Kamera nicht verwenden. Erlauben Sie den Kamerazugriff in den Datenschutzeinstellungen Ihres Systems, oder scannen Sie Ihre Bildschirme oder fügen Sie stattdessen den Link ein.
scan-webcam-missing = Es konnte keine Kamera geöffnet werden: Keine ist angeschlossen, oder ein anderes Programm verwendet sie. Scannen Sie Ihre Bildschirme, öffnen Sie ein Bild des Codes oder fügen Sie stattdessen den Link ein.
scan-webcam-stopped = Die Kamera wurde beendet, als Sie Latchkey verlassen haben. Wählen Sie „Meine Kamera verwenden“, um sie wieder zu starten.
reason-otpauth = es ist ein Einmalpasswort-Code für eine andere Authenticator-App.
reason-privacyidea = es ist ein privacyIDEA-Code; verwenden Sie dafür die privacyIDEA-App.
reason-wifi = es ist der Code eines WLAN-Netzes.
reason-vcard = es ist eine Visitenkarte.
reason-text = er enthält nur Text.
reason-other-url = es ist ein Link zu etwas anderem.
reason-unsafe = es könnte ein Phishing-Versuch sein; verwenden Sie ihn nicht und informieren Sie den Dienst.
reason-host = diese App fügt nur Konten zugelassener Dienste hinzu, und { $host } gehört nicht dazu.
reason-update = er braucht eine neuere Version dieser App; aktualisieren Sie die App und scannen Sie erneut.
reason-damaged = der Code ist unvollständig oder beschädigt; laden Sie die Seite neu und scannen Sie den neuen Code.

## Hinzufügen
enrol-title = Dieses Konto hinzufügen
enrol-who = { $service } möchte dieses Gerät dem Konto { $account } auf { $host } hinzufügen.
enrol-pin-web = Geben Sie die PIN ein, die Sie auf der Seite festgelegt haben.
enrol-pin-choose = Wählen Sie eine { $digits }-stellige PIN für dieses Konto.
enrol-pin-again = Geben Sie dieselbe PIN noch einmal ein.
enrol-pin-label = PIN
enrol-pin-again-label = PIN wiederholen
enrol-submit = Konto hinzufügen
enrol-busy = Konto wird hinzugefügt…
enrol-done = Dieses Gerät ist bereit. { $service } bittet Sie hier, jede Anmeldung zu bestätigen.

## Eine Anmeldeanfrage
request-title = Authentifizieren
request-who = Anmeldung bei { $service } von { $browser }
request-ip = IP-Adresse { $ip }
request-place = In der Nähe von { $place }
request-time = Angefragt um { $time }
request-countdown = { $seconds ->
    [one] Noch 1 Sekunde
   *[other] Noch { $seconds } Sekunden
}
request-code-label = Die Zahl auf der Anmeldeseite
request-pin-label = Ihre PIN
request-approve = Bestätigen
request-deny = Ablehnen
request-not-me = Das war ich nicht
request-busy = Ihre Antwort wird gesendet…
request-loading = Anmeldeanfrage wird geladen…
outcome-approved = Bestätigt. Die Anmeldung geht auf dem anderen Bildschirm weiter.
outcome-denied = Abgelehnt. Niemand wurde angemeldet.
outcome-reported = Gemeldet. Anmeldeanfragen sind eine Weile pausiert. Ändern Sie Ihr Passwort: Jemand kennt es.
outcome-expired = Diese Anfrage ist abgelaufen. Starten Sie die Anmeldung auf der Anmeldeseite neu.
outcome-answered = Diese Anfrage wurde schon beantwortet oder auf der Anmeldeseite abgebrochen.
outcome-mismatch = Die Zahl passte nicht zur Anmeldeseite, deshalb wurde die Anmeldung abgelehnt. Starten Sie neu und geben Sie die dort gezeigte Zahl ein.

## Benachrichtigungen
notify-title = Anmeldeanfrage
notify-body = { $service }: Anmeldung von { $browser } bestätigen?
notify-body-private = Eine Anmeldung wartet auf Ihre Bestätigung.
notify-approve = Bestätigen
notify-deny = Ablehnen
notify-channel = Anmeldeanfragen

## PIN ändern
change-title = PIN ändern
change-old = Ihre aktuelle PIN
change-new = Ihre neue PIN
change-again = Ihre neue PIN wiederholen
change-submit = PIN ändern
change-busy = PIN wird geändert…
change-done = Ihre PIN wurde geändert. Verwenden Sie ab jetzt die neue.

## PIN vergessen
forgot-title = PIN vergessen
forgot-intro = Zeigen Sie, dass Sie es sind: Geben Sie das Passwort Ihres { $service }-Kontos ein, und wir schicken Ihnen einen Code per E-Mail.
forgot-password = Passwort
forgot-send = Code senden
forgot-busy-send = Code wird gesendet…
forgot-sent = Wir haben einen Code an { $addresses } geschickt. Er gilt { $minutes } Minuten.
forgot-code = Code aus der E-Mail
forgot-new = Neue PIN
forgot-again = Neue PIN wiederholen
forgot-submit = Neue PIN festlegen
forgot-busy-set = Neue PIN wird festgelegt…
forgot-done = Ihre neue PIN ist festgelegt, und dieses Gerät kann wieder Anmeldungen bestätigen.

## Entfernen
remove-title = Dieses Konto entfernen
remove-intro = Dieses Gerät bestätigt dann keine Anmeldungen bei { $account } mehr. Geben Sie zur Bestätigung Ihre PIN ein. Vergessen? Entfernen Sie das Gerät stattdessen auf der Webseite des Kontos.
remove-submit = Entfernen
remove-busy = Wird entfernt…
remove-done = { $account } wurde von diesem Gerät entfernt.

## Einstellungen
settings-title = Einstellungen
settings-language = Sprache
settings-language-system = Die Sprache des Geräts
settings-about = Latchkey: ein offener Push-Authenticator. Ihre PIN verlässt dieses Gerät nie, und jede Anmeldung zeigt, woher sie kommt.
settings-version = Version { $version }

## Rückmeldungen
wrong-pin = { $left ->
    [0] Falsche PIN. Das war der letzte Versuch: Dieses Konto ist auf diesem Gerät jetzt gesperrt. Verwenden Sie „PIN vergessen".
    [one] Falsche PIN. Noch 1 Versuch, bevor dieses Konto auf diesem Gerät gesperrt wird.
   *[other] Falsche PIN. Noch { $left } Versuche, bevor dieses Konto auf diesem Gerät gesperrt wird.
}
wrong-pin-plain = Falsche PIN.
locked = Zu viele falsche PINs: Dieses Konto ist auf diesem Gerät gesperrt. Wählen Sie mit „PIN vergessen" eine neue PIN.
pins-differ = Die beiden PINs sind verschieden. Geben Sie zweimal dieselbe PIN ein.
pin-length = Die PIN hat { $digits } Ziffern.
pin-weak = Diese PIN ist zu leicht zu erraten (eine wiederholte Ziffer, eine Folge oder ein Muster). Wählen Sie eine andere.
pin-digits-only = Die PIN darf nur Ziffern enthalten.
bad-credentials = Das Passwort oder der Code ist falsch.
rate-limited = Zu viele Versuche. Versuchen Sie es später erneut.
operation-expired = Das hat zu lange gedauert und ist abgelaufen. Beginnen Sie neu; Ihre alte PIN gilt weiter.

## Fehler
error-network = Der Server ist nicht erreichbar. Prüfen Sie die Verbindung und versuchen Sie es erneut.
error-untrusted = Der Server konnte nicht überprüft werden. Bestätigen Sie nichts; prüfen Sie das Netz oder wenden Sie sich an den Dienst.
error-rejected = Der Server hat abgelehnt. Versuchen Sie es erneut; wenn es weiter scheitert, wenden Sie sich an den Dienst.
error-screen-lock = Dieses Gerät hat keine Bildschirmsperre. Legen Sie zuerst eine PIN, ein Muster oder ein Passwort für das Gerät fest und versuchen Sie es dann erneut.
error-storage = Dieses Gerät konnte seine Daten nicht speichern oder lesen. Geben Sie Speicherplatz frei und versuchen Sie es erneut.
error-corrupt = Die Daten dieses Kontos auf diesem Gerät sind beschädigt. Entfernen Sie das Konto und fügen Sie es neu hinzu.
error-keystore = Der Schlüsselspeicher des Geräts ist nicht verfügbar. Entsperren Sie das Gerät und versuchen Sie es erneut.
error-signer = Der Geräteschlüssel konnte nicht verwendet werden. Versuchen Sie es erneut; wenn es weiter scheitert, entfernen Sie das Konto und fügen Sie es neu hinzu.
error-not-found = Dieses Konto ist nicht mehr auf diesem Gerät.
error-invalid = Etwas an dieser Anfrage war ungültig. Beginnen Sie neu.
error-busy = Eine andere PIN-Änderung dieses Kontos wird gerade abgeschlossen. Versuchen Sie es gleich noch einmal.
error-clock = Die Uhr dieses Geräts geht falsch. Stellen Sie Datum und Uhrzeit auf automatisch und versuchen Sie es erneut.
error-clock-ahead = { $minutes ->
    [one] Die Uhr dieses Geräts geht 1 Minute vor.
   *[other] Die Uhr dieses Geräts geht { $minutes } Minuten vor.
} Stellen Sie Datum und Uhrzeit auf automatisch und versuchen Sie es erneut.
error-clock-behind = { $minutes ->
    [one] Die Uhr dieses Geräts geht 1 Minute nach.
   *[other] Die Uhr dieses Geräts geht { $minutes } Minuten nach.
} Stellen Sie Datum und Uhrzeit auf automatisch und versuchen Sie es erneut.

## Nach einem Neustart
settle-promoted = Die PIN-Änderung von { $account } wurde abgeschlossen: Verwenden Sie Ihre neue PIN.
settle-discarded = Die PIN-Änderung von { $account } wurde nicht abgeschlossen: Ihre alte PIN gilt weiter.
settle-activated = { $account } ist bereit: Das Hinzufügen wurde abgeschlossen.
settle-pending = Eine PIN-Änderung von { $account } ist noch nicht bestätigt: Bis dahin gilt Ihre alte PIN.
