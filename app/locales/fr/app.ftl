# Application Latchkey — français. Mêmes identifiants et mêmes variables que l'anglais.
# Mots de l'application EU Login : « Initialiser », « S'authentifier », « Code PIN oublié ».

app-name = Latchkey
tray-open = Ouvrir Latchkey
tray-quit = Quitter Latchkey
back = Retour
cancel = Annuler
done = Terminé
key-erase = Effacer le dernier chiffre ({ $label })
pin-field-a11y = { $label } : { $filled } chiffres saisis sur { $digits }
busy-a11y = En cours : { $what }

## Comptes (accueil)
accounts-title = Mes comptes
accounts-empty = Aucun compte pour l'instant. Sur la page web de votre compte, ouvrez « Ajouter un appareil mobile », puis choisissez « Initialiser » ici et scannez le code.
accounts-keys-forgotten = Cet ordinateur garde ses clés dans le trousseau du noyau, qui les oublie au redémarrage : les comptes ajoutés ici devront alors être ajoutés de nouveau. Démarrez GNOME Keyring ou KWallet pour les garder.
accounts-notifications-off = Les notifications sont désactivées : les demandes de connexion n'apparaissent que lorsque Latchkey est ouvert. Activez-les dans les réglages du téléphone.
accounts-add = Initialiser (ajouter un compte)
accounts-check-now = Vérifier les demandes de connexion maintenant
accounts-checking = Recherche de demandes de connexion…
accounts-settings = Paramètres
account-row-a11y = { $service }, { $account }, sur { $host }. { $status }
account-active = Prêt à approuver les connexions
account-locked = Verrouillé après des codes PIN erronés : utilisez « Code PIN oublié »
account-enrolling = L'ajout de ce compte n'est pas terminé
account-pending = { $count ->
    [one] 1 demande de connexion en attente
   *[other] { $count } demandes de connexion en attente
}
account-assurance-software = Clé conservée par le logiciel, chiffrée
account-assurance-hardware = Clé conservée dans le matériel de l'appareil
account-assurance-secure-element = Clé conservée dans l'élément sécurisé de l'appareil
offline = Impossible de joindre { $host } pour les demandes de connexion ; nouvel essai en cours. Vérifiez la connexion.

## Un compte
account-title = { $service }
account-requests-none = Aucune demande de connexion en attente.
account-request-row = Connexion depuis { $browser } à { $time }
account-change-pin = Modifier le code PIN
account-forgot-pin = Code PIN oublié
account-remove = Supprimer ce compte

## Scanner
scan-title = Initialiser
scan-point = Dirigez l'appareil photo vers le code QR de la page « Ajouter un appareil mobile ».
scan-point-desktop = Ouvrez la page « Ajouter un appareil mobile » pour que son code QR soit à l’écran, puis choisissez « Scanner mes écrans ». Ou collez le lien affiché sous le code.
scan-steady = Ne bougez plus, et approchez-vous jusqu'à ce que tout le code soit dans le cadre.
scan-not-latchkey = Ce n'est pas un code Latchkey : { $reason }
scan-expired = Ce code a expiré ou a déjà été utilisé. Demandez-en un nouveau sur la page.
scan-camera-a11y = Vue de l'appareil photo pour scanner le code QR
scan-camera-denied = Latchkey n'a pas le droit d'utiliser l'appareil photo. Autorisez-le dans les réglages du téléphone (Applications, Latchkey, Autorisations), ou collez le lien affiché sous le code.
scan-camera-missing = L'appareil photo n'est pas utilisable. Collez plutôt le lien affiché sous le code.
scan-torch-on = Allumer la lampe
scan-torch-off = Éteindre la lampe
scan-torch-on-a11y = Allumer la lampe de l'appareil photo
scan-torch-off-a11y = Éteindre la lampe de l'appareil photo
scan-paste = Coller le lien
scan-paste-label = Lien d'enregistrement (commence par https://)
scan-paste-use = Utiliser ce lien
scan-open-image = Ouvrir une image du code
scan-screens = Scanner mes écrans
scan-paste-image = Coller une image du code
scan-screens-busy = Recherche du code sur vos écrans…
scan-clipboard-busy = Recherche du code dans l’image copiée…
scan-found-on-screen = Code trouvé sur l’écran { $number } ({ $name }).
scan-screens-none = Aucun code Latchkey sur { $count ->
    [one] votre écran
   *[other] aucun de vos { $count } écrans
}. Ouvrez la page « Ajouter un appareil mobile » du compte pour que son code soit visible, puis scannez de nouveau.
scan-clipboard-none = Le presse-papiers ne contient aucune image de code Latchkey. Copiez l’image du code, ou collez plutôt le lien.
scan-capture-failed = Impossible de capturer l’écran ({ $reason }). Ouvrez une image du code ou collez plutôt le lien.
scan-clipboard-failed = Impossible de lire le presse-papiers ({ $reason }). Collez plutôt le lien.
scan-point-desktop-webcam = Ouvrez la page « Ajouter un appareil mobile » pour que son code QR soit à l’écran, puis choisissez « Scanner mes écrans ». Si le code est sur un autre appareil ou sur papier, choisissez « Utiliser ma caméra ». Ou collez le lien affiché sous le code.
scan-webcam-start = Utiliser ma caméra
scan-webcam-stop = Arrêter la caméra
scan-webcam-starting = Démarrage de la caméra…
scan-webcam-point = Présentez le code QR devant la caméra, de sorte que tout le code soit dans l’image.
scan-webcam-denied = Latchkey n’a pas le droit d’utiliser la caméra. Autorisez l’accès à la caméra dans les paramètres de confidentialité du système, ou scannez vos écrans ou collez plutôt le lien.
scan-webcam-missing = Aucune caméra n’a pu être ouverte : aucune n’est branchée, ou un autre programme l’utilise. Scannez vos écrans, ouvrez une image du code ou collez plutôt le lien.
scan-webcam-stopped = La caméra s’est arrêtée quand vous avez quitté Latchkey. Choisissez « Utiliser ma caméra » pour la relancer.
reason-otpauth = c'est un code de mot de passe à usage unique pour une autre application d'authentification.
reason-privacyidea = c'est un code privacyIDEA ; utilisez l'application privacyIDEA.
reason-wifi = c'est le code d'un réseau Wi-Fi.
reason-vcard = c'est une carte de visite.
reason-text = il contient du texte simple.
reason-other-url = c'est un lien vers autre chose.
reason-unsafe = il pourrait s'agir d'hameçonnage ; ne l'utilisez pas et prévenez le service.
reason-host = cette application n'ajoute que des comptes de services approuvés, et { $host } n'en fait pas partie.
reason-update = il faut une version plus récente de cette application ; mettez-la à jour et scannez de nouveau.
reason-damaged = le code est incomplet ou abîmé ; rechargez la page et scannez le nouveau code.

## Enregistrement
enrol-title = Ajouter ce compte
enrol-who = { $service } demande d'ajouter cet appareil au compte { $account } sur { $host }.
enrol-pin-web = Tapez le code PIN choisi sur la page.
enrol-pin-choose = Choisissez un code PIN de { $digits } chiffres pour ce compte.
enrol-pin-again = Tapez de nouveau le même code PIN.
enrol-pin-label = Code PIN
enrol-pin-again-label = Code PIN, de nouveau
enrol-submit = Ajouter le compte
enrol-busy = Ajout du compte…
enrol-done = Cet appareil est prêt. { $service } vous demandera ici d'approuver chaque connexion.

## Une demande de connexion
request-title = S'authentifier
request-who = Connexion à { $service } depuis { $browser }
request-ip = Adresse IP { $ip }
request-place = Près de { $place }
request-time = Demandée à { $time }
request-countdown = { $seconds ->
    [one] 1 seconde restante
   *[other] { $seconds } secondes restantes
}
request-code-label = Le nombre affiché sur la page de connexion
request-pin-label = Votre code PIN
request-approve = Approuver
request-deny = Refuser
request-not-me = Ce n'était pas moi
request-busy = Envoi de votre réponse…
request-loading = Chargement de la demande de connexion…
outcome-approved = Approuvé. La connexion continue sur l'autre écran.
outcome-denied = Refusé. Personne n'a été connecté.
outcome-reported = Signalé. Les demandes de connexion sont suspendues un moment. Changez votre mot de passe : quelqu'un le connaît.
outcome-expired = Cette demande a expiré. Recommencez la connexion sur la page de connexion.
outcome-answered = Cette demande a déjà reçu une réponse, ou a été annulée sur la page de connexion.
outcome-mismatch = Le nombre ne correspondait pas à la page de connexion, la connexion a donc été refusée. Recommencez et tapez le nombre affiché.

## Notifications
notify-title = Demande de connexion
notify-body = { $service } : approuver la connexion depuis { $browser } ?
notify-body-private = Une connexion attend votre approbation.
notify-approve = Approuver
notify-deny = Refuser
notify-channel = Demandes de connexion

## Modifier le code PIN
change-title = Modifier le code PIN
change-old = Votre code PIN actuel
change-new = Votre nouveau code PIN
change-again = Votre nouveau code PIN, de nouveau
change-submit = Modifier le code PIN
change-busy = Modification du code PIN…
change-done = Votre code PIN a été modifié. Utilisez désormais le nouveau.

## Code PIN oublié
forgot-title = Code PIN oublié
forgot-intro = Prouvez que c'est vous : tapez le mot de passe de votre compte { $service }, et nous vous enverrons un code par e-mail.
forgot-password = Mot de passe
forgot-send = Envoyer le code
forgot-busy-send = Envoi du code…
forgot-sent = Nous avons envoyé un code à { $addresses }. Il est valable { $minutes } minutes.
forgot-code = Code reçu par e-mail
forgot-new = Nouveau code PIN
forgot-again = Nouveau code PIN, de nouveau
forgot-submit = Définir le nouveau code PIN
forgot-busy-set = Définition du nouveau code PIN…
forgot-done = Votre nouveau code PIN est défini, et cet appareil peut de nouveau approuver les connexions.

## Supprimer
remove-title = Supprimer ce compte
remove-intro = Cet appareil n'approuvera plus les connexions à { $account }. Tapez votre code PIN pour confirmer. Vous l'avez oublié ? Supprimez plutôt l'appareil sur la page web du compte.
remove-submit = Supprimer
remove-busy = Suppression…
remove-done = { $account } a été supprimé de cet appareil.

## Paramètres
settings-title = Paramètres
settings-language = Langue
settings-language-system = La langue de l'appareil
settings-about = Latchkey : un authentificateur libre par notification. Votre code PIN ne quitte jamais cet appareil, et chaque connexion indique d'où elle vient.
settings-version = Version { $version }

## Retours
wrong-pin = { $left ->
    [0] Code PIN erroné. C'était le dernier essai : ce compte est maintenant verrouillé sur cet appareil. Utilisez « Code PIN oublié ».
    [one] Code PIN erroné. Encore 1 essai avant que ce compte soit verrouillé sur cet appareil.
   *[other] Code PIN erroné. Encore { $left } essais avant que ce compte soit verrouillé sur cet appareil.
}
wrong-pin-plain = Code PIN erroné.
locked = Trop de codes PIN erronés : ce compte est verrouillé sur cet appareil. Choisissez un nouveau code PIN avec « Code PIN oublié ».
pins-differ = Les deux codes PIN sont différents. Tapez deux fois le même.
pin-length = Le code PIN a { $digits } chiffres.
pin-weak = Ce code PIN est trop facile à deviner (un seul chiffre répété, une suite ou un motif). Choisissez-en un autre.
pin-digits-only = Le code PIN ne peut contenir que des chiffres.
bad-credentials = Le mot de passe ou le code est erroné.
rate-limited = Trop d'essais. Réessayez plus tard.
operation-expired = Cela a pris trop de temps et a expiré. Recommencez ; votre ancien code PIN fonctionne toujours.

## Erreurs
error-network = Impossible de joindre le serveur. Vérifiez la connexion et réessayez.
error-untrusted = Le serveur n'a pas pu être vérifié. N'approuvez rien ; vérifiez le réseau ou contactez le service.
error-rejected = Le serveur a refusé. Réessayez ; si cela continue, contactez le service.
error-screen-lock = Cet appareil n'a pas de verrouillage d'écran. Définissez d'abord un code, un schéma ou un mot de passe pour l'appareil, puis réessayez.
error-storage = Cet appareil n'a pas pu enregistrer ou lire ses données. Libérez de l'espace et réessayez.
error-corrupt = Les données de ce compte sur cet appareil sont abîmées. Supprimez le compte et ajoutez-le de nouveau.
error-keystore = Le magasin de clés de l'appareil n'est pas disponible. Déverrouillez l'appareil et réessayez.
error-signer = La clé de l'appareil n'a pas pu être utilisée. Réessayez ; si cela continue, supprimez le compte et ajoutez-le de nouveau.
error-not-found = Ce compte n'est plus sur cet appareil.
error-invalid = Un élément de cette demande n'était pas valide. Recommencez.
error-busy = Une autre modification du code PIN de ce compte est en cours de finalisation. Réessayez dans un instant.
error-clock = L'horloge de cet appareil n'est pas à l'heure. Réglez la date et l'heure en automatique, puis réessayez.
error-clock-ahead = { $minutes ->
    [one] L'horloge de cet appareil avance d'une minute.
   *[other] L'horloge de cet appareil avance de { $minutes } minutes.
} Réglez la date et l'heure en automatique, puis réessayez.
error-clock-behind = { $minutes ->
    [one] L'horloge de cet appareil retarde d'une minute.
   *[other] L'horloge de cet appareil retarde de { $minutes } minutes.
} Réglez la date et l'heure en automatique, puis réessayez.

## Après un redémarrage
settle-promoted = La modification du code PIN de { $account } est terminée : utilisez votre nouveau code PIN.
settle-discarded = La modification du code PIN de { $account } n'a pas abouti : votre ancien code PIN fonctionne toujours.
settle-activated = { $account } est prêt : son ajout est terminé.
settle-pending = Une modification du code PIN de { $account } n'est pas encore confirmée : votre ancien code PIN fonctionne d'ici là.
