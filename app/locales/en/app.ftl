# Latchkey app — English. Every id here must exist in every locale, with the same variables
# (test `every_locale_has_every_message_with_the_same_variables`). Words from the EU Login app
# where people know them ("Initialise", "Authenticate", "Forgot PIN").

app-name = Latchkey
tray-open = Open Latchkey
tray-quit = Quit Latchkey
back = Back
cancel = Cancel
done = Done
key-erase = Erase the last digit ({ $label })
pin-field-a11y = { $label }: { $filled } of { $digits } digits typed
busy-a11y = Working: { $what }

## Accounts (home)
accounts-title = My accounts
accounts-empty = No account yet. On your account's web page, open "Add a mobile device", then choose "Initialise" here and scan the code.
accounts-keys-forgotten = This computer keeps its keys in the kernel keyring, which forgets them when it restarts: the accounts added here must then be added again. Start GNOME Keyring or KWallet to keep them.
accounts-notifications-off = Notifications are off: sign-in requests show only while Latchkey is open. Turn them on in your phone's settings.
accounts-add = Initialise (add an account)
accounts-check-now = Check for sign-in requests now
accounts-checking = Checking for sign-in requests…
accounts-settings = Settings
account-row-a11y = { $service }, { $account }, on { $host }. { $status }
account-active = Ready to approve sign-ins
account-locked = Locked after wrong PINs: use "Forgot PIN"
account-enrolling = Adding this account was not finished
account-pending = { $count ->
    [one] 1 sign-in request waiting
   *[other] { $count } sign-in requests waiting
}
account-assurance-software = Key kept in software, encrypted
account-assurance-hardware = Key kept in the device's hardware
account-assurance-secure-element = Key kept in the device's secure element
offline = Cannot reach { $host } for sign-in requests; trying again. Check the connection.

## One account
account-title = { $service }
account-requests-none = No sign-in request is waiting.
account-request-row = Sign-in from { $browser } at { $time }
account-change-pin = Change PIN
account-forgot-pin = Forgot PIN
account-remove = Remove this account

## Scan
scan-title = Initialise
scan-point = Point the camera at the QR code on the "Add a mobile device" page.
scan-point-desktop = Open the "Add a mobile device" page so that its QR code is on your screen, then choose "Scan my screens". Or paste the link shown under the code.
scan-steady = Hold steady, and move closer until the whole code is in the frame.
scan-not-latchkey = This is not a Latchkey code: { $reason }
scan-expired = This code expired or was already used. Ask the page for a new one.
scan-camera-a11y = Camera view for scanning the QR code
scan-camera-denied = Latchkey may not use the camera. Allow it in your phone's settings (Apps, Latchkey, Permissions), or paste the link shown under the code.
scan-camera-missing = The camera cannot be used. Paste the link shown under the code instead.
scan-torch-on = Light on
scan-torch-off = Light off
scan-torch-on-a11y = Turn the camera's light on
scan-torch-off-a11y = Turn the camera's light off
scan-paste = Paste the link
scan-paste-label = Enrolment link (starts with https://)
scan-paste-use = Use this link
scan-open-image = Open an image of the code
scan-screens = Scan my screens
scan-paste-image = Paste an image of the code
scan-screens-busy = Looking for the code on your screens…
scan-clipboard-busy = Looking for the code in the copied image…
scan-found-on-screen = Code found on screen { $number } ({ $name }).
scan-screens-none = No Latchkey code on { $count ->
    [one] your screen
   *[other] any of your { $count } screens
}. Open the account's "Add a mobile device" page so that its code is visible, then scan again.
scan-clipboard-none = The clipboard holds no image of a Latchkey code. Copy the code's image, or paste the link instead.
scan-capture-failed = Could not capture the screen ({ $reason }). Open an image of the code or paste the link instead.
scan-clipboard-failed = Could not read the clipboard ({ $reason }). Paste the link instead.
scan-point-desktop-webcam = Open the "Add a mobile device" page so that its QR code is on your screen, then choose "Scan my screens". If the code is on another device or on paper, choose "Use my camera". Or paste the link shown under the code.
scan-webcam-start = Use my camera
scan-webcam-stop = Stop the camera
scan-webcam-starting = Starting the camera…
scan-webcam-point = Hold the QR code up to the camera, so that the whole code is in the picture.
scan-webcam-denied = Latchkey may not use the camera. Allow camera access in your system’s privacy settings, or scan your screens or paste the link instead.
scan-webcam-missing = No camera could be opened: none is connected, or another program is using it. Scan your screens, open an image of the code or paste the link instead.
scan-webcam-stopped = The camera stopped when you left Latchkey. Choose "Use my camera" to start it again.
reason-otpauth = it is a one-time-password code for another authenticator app.
reason-privacyidea = it is a privacyIDEA code; use the privacyIDEA app for it.
reason-wifi = it is a Wi-Fi network code.
reason-vcard = it is a contact card.
reason-text = it contains plain text.
reason-other-url = it is a link to something else.
reason-unsafe = it may be a phishing attempt; do not use it and tell the service.
reason-host = this app only adds accounts of approved services, and { $host } is not one of them.
reason-update = it needs a newer version of this app; update the app and scan again.
reason-damaged = the code is incomplete or damaged; reload the page and scan the new code.

## Enrol
enrol-title = Add this account
enrol-who = { $service } asks to add this device to the account { $account } at { $host }.
enrol-pin-web = Type the PIN you set on the page.
enrol-pin-choose = Choose a { $digits }-digit PIN for this account.
enrol-pin-again = Type the same PIN again.
enrol-pin-label = PIN
enrol-pin-again-label = PIN again
enrol-submit = Add the account
enrol-busy = Adding the account…
enrol-done = This device is ready. { $service } will ask you here to approve each sign-in.

## A sign-in request
request-title = Authenticate
request-who = Sign-in to { $service } from { $browser }
request-ip = IP address { $ip }
request-place = Near { $place }
request-time = Requested at { $time }
request-countdown = { $seconds ->
    [one] 1 second left
   *[other] { $seconds } seconds left
}
request-code-label = The number shown on the login page
request-pin-label = Your PIN
request-approve = Approve
request-deny = Deny
request-not-me = This wasn't me
request-busy = Sending your answer…
request-loading = Loading the sign-in request…
outcome-approved = Approved. The sign-in continues on the other screen.
outcome-denied = Denied. Nobody was signed in.
outcome-reported = Reported. Sign-in requests are paused for a while. Change your password: someone knows it.
outcome-expired = This request expired. Start the sign-in again on the login page.
outcome-answered = This request was already answered, or cancelled on the login page.
outcome-mismatch = The number did not match the login page, so the sign-in was refused. Start it again and type the number shown there.

## Notifications
notify-title = Sign-in request
notify-body = { $service }: approve the sign-in from { $browser }?
notify-body-private = A sign-in needs your approval.
notify-approve = Approve
notify-deny = Deny
notify-channel = Sign-in requests

## PIN change
change-title = Change PIN
change-old = Your current PIN
change-new = Your new PIN
change-again = Your new PIN again
change-submit = Change PIN
change-busy = Changing the PIN…
change-done = Your PIN was changed. Use the new one from now on.

## Forgotten PIN
forgot-title = Forgot PIN
forgot-intro = Prove it is you: type the password of your { $service } account, and we e-mail you a code.
forgot-password = Password
forgot-send = Send the code
forgot-busy-send = Sending the code…
forgot-sent = We e-mailed a code to { $addresses }. It is valid for { $minutes } minutes.
forgot-code = Code from the e-mail
forgot-new = New PIN
forgot-again = New PIN again
forgot-submit = Set the new PIN
forgot-busy-set = Setting the new PIN…
forgot-done = Your new PIN is set, and this device can approve sign-ins again.

## Remove
remove-title = Remove this account
remove-intro = This device will no longer approve sign-ins to { $account }. Type your PIN to confirm. Forgot it? Remove the device on the account's web page instead.
remove-submit = Remove
remove-busy = Removing…
remove-done = { $account } was removed from this device.

## Settings
settings-title = Settings
settings-language = Language
settings-language-system = The device's language
settings-about = Latchkey: an open push authenticator. Your PIN never leaves this device, and every sign-in shows where it comes from.
settings-version = Version { $version }

## Feedback
wrong-pin = { $left ->
    [0] Wrong PIN. That was the last attempt: this account is now locked on this device. Use "Forgot PIN".
    [one] Wrong PIN. 1 attempt left before this account is locked on this device.
   *[other] Wrong PIN. { $left } attempts left before this account is locked on this device.
}
wrong-pin-plain = Wrong PIN.
locked = Too many wrong PINs: this account is locked on this device. Choose a new PIN with "Forgot PIN".
pins-differ = The two PINs are different. Type the same PIN twice.
pin-length = The PIN has { $digits } digits.
pin-weak = This PIN is too easy to guess (all the same digit, a sequence or a pattern). Choose another one.
pin-digits-only = The PIN may contain only digits.
bad-credentials = The password or the code is wrong.
rate-limited = Too many attempts. Try again later.
operation-expired = This took too long and expired. Start again; your old PIN still works.

## Errors
error-network = Cannot reach the server. Check the connection and try again.
error-untrusted = The server could not be verified. Do not approve anything; check the network or contact the service.
error-rejected = The server refused this. Try again; if it keeps failing, contact the service.
error-screen-lock = This device has no screen lock. Set a PIN, pattern or password for the device first, then try again.
error-storage = This device could not save or read its data. Free some space and try again.
error-corrupt = This account's data on this device is damaged. Remove the account and add it again.
error-keystore = The device's key store is not available. Unlock the device and try again.
error-signer = The device key could not be used. Try again; if it keeps failing, remove the account and add it again.
error-not-found = This account is no longer on this device.
error-invalid = Something in this request was not valid. Start again.
error-busy = Another PIN change is still being finished for this account. Try again in a moment.
error-clock = This device's clock is wrong. Set the date and time to automatic, then try again.
error-clock-ahead = { $minutes ->
    [one] This device's clock is 1 minute fast.
   *[other] This device's clock is { $minutes } minutes fast.
} Set the date and time to automatic, then try again.
error-clock-behind = { $minutes ->
    [one] This device's clock is 1 minute slow.
   *[other] This device's clock is { $minutes } minutes slow.
} Set the date and time to automatic, then try again.

## After a restart
settle-promoted = The PIN change of { $account } was completed: use your new PIN.
settle-discarded = The PIN change of { $account } was not completed: your old PIN still works.
settle-activated = { $account } is ready: adding it was completed.
settle-pending = A PIN change of { $account } is not confirmed yet: your old PIN works until then.
